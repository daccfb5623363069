"""Per-consumer hourly totals (consumer_hours), their coverage per env, an index on consumers' last seen

Revision ID: 0026
Revises: 0025

consumer_hours is filled from the per-consumer metric rows (level 3) stored before it: hour rows plus the
minute rows not rolled yet, summed per env, hour and consumer. Where an env has older requests than its
first hour row (day rows outlive hour rows), envs.consumer_hours_since is set to that first hour, so that
ranges reaching before it are still read from the metric rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0027"
branch_labels = None
depends_on = None

MINUTE, HOUR, DAY = 60, 3600, 86400
LEVEL_CONSUMER_TOTAL = 3

metrics = sa.table(
    "metrics",
    *(
        sa.column(n)
        for n in ("env_id", "granularity", "bucket", "level", "consumer_id", "status_code", "request_count")
    ),
    sa.column("rolled", sa.Boolean),
)
c = metrics.c


def upgrade() -> None:
    op.add_column(
        "envs", sa.Column("consumer_hours_since", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.create_table(
        "consumer_hours",
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("consumer_id", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_consumer_hours_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("env_id", "bucket", "consumer_id", name=op.f("pk_consumer_hours")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_consumers_app_id_last_seen"), "consumers", ["app_id", "last_seen"])
    conn = op.get_bind()
    for env_id in conn.execute(sa.text("SELECT id FROM envs ORDER BY id")).scalars().all():
        _fill(conn, env_id)
        since = _first_complete_hour(conn, env_id)
        if since:
            conn.execute(
                sa.text("UPDATE envs SET consumer_hours_since = :since WHERE id = :id"),
                {"since": since, "id": env_id},
            )


def _fill(conn: sa.Connection, env_id: int) -> None:
    of_env = (c.env_id == env_id, c.level == LEVEL_CONSUMER_TOTAL, c.consumer_id != 0)
    hours = sa.select(c.bucket.label("hour"), c.consumer_id, c.status_code, c.request_count).where(
        *of_env, c.granularity == HOUR
    )
    unrolled = sa.select(
        (c.bucket - c.bucket % HOUR).label("hour"), c.consumer_id, c.status_code, c.request_count
    ).where(*of_env, c.granularity == MINUTE, c.rolled == sa.false())
    rows = sa.union_all(hours, unrolled).subquery("rows")
    summed = sa.select(
        sa.literal(env_id),
        rows.c.hour,
        rows.c.consumer_id,
        sa.func.sum(rows.c.request_count),
        sa.func.sum(sa.case((rows.c.status_code >= 400, rows.c.request_count), else_=0)),
    ).group_by(rows.c.hour, rows.c.consumer_id)
    target = sa.table(
        "consumer_hours", *(sa.column(n) for n in ("env_id", "bucket", "consumer_id", "requests", "errors"))
    )
    conn.execute(
        target.insert().from_select(["env_id", "bucket", "consumer_id", "requests", "errors"], summed)
    )


def _first_complete_hour(conn: sa.Connection, env_id: int) -> int:
    """0 when the hour rows (and unrolled minutes) hold every request of the env; else its first hour row."""
    of_env = (c.env_id == env_id, c.level == LEVEL_CONSUMER_TOTAL)
    first_hour = conn.execute(sa.select(sa.func.min(c.bucket)).where(*of_env, c.granularity == HOUR)).scalar()
    first_day = conn.execute(sa.select(sa.func.min(c.bucket)).where(*of_env, c.granularity == DAY)).scalar()
    if first_day is None:
        return 0
    if first_hour is None:  # only day rows (and maybe unrolled minutes): none of their hours are here
        last_day = conn.execute(
            sa.select(sa.func.max(c.bucket)).where(*of_env, c.granularity == DAY)
        ).scalar_one()
        return int(last_day) + DAY
    day = int(first_hour) - int(first_hour) % DAY
    if first_day < day:
        return int(first_hour)
    # Hour and day rows are rolled from the same minutes at once: the first day holds more requests than
    # its hours only when retention has deleted some of those hours.
    in_day = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(c.request_count), 0)).where(
            *of_env, c.granularity == DAY, c.bucket == day
        )
    ).scalar()
    in_hours = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(c.request_count), 0)).where(
            *of_env, c.granularity == HOUR, c.bucket >= day, c.bucket < day + DAY
        )
    ).scalar()
    return int(first_hour) if in_day != in_hours else 0


def downgrade() -> None:
    op.drop_index(op.f("ix_consumers_app_id_last_seen"), table_name="consumers")
    op.drop_table("consumer_hours")
    # Not a batch operation: on SQLite that rebuilds envs, and dropping the old table cascades to metrics.
    op.execute("ALTER TABLE envs DROP COLUMN consumer_hours_since")
