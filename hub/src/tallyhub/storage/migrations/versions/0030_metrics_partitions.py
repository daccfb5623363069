"""PostgreSQL: metrics partitioned by LIST (granularity), then RANGE (bucket) slices (storage/partitions.py)

The rows move into the partitioned table with their ids (the same sequence goes on numbering); the
indexes are built after the copy, once per slice. SQLite keeps its single table: a no-op there.
Downgrade copies the rows back into a plain table.

Revision ID: 0030
Revises: 0029
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0033"
branch_labels = None
depends_on = None

DAY = 86400
# Frozen copies of storage/partitions.py's METRIC_SLICES at this revision: granularity -> slice width.
WIDTHS = {60: DAY, 3600: 7 * DAY, 86400: 28 * DAY}
AROUND_NOW = (-2 * DAY, 3 * DAY)

# The indexes of tables.py at this revision: (name, columns, partial index predicate).
INDEXES = (
    (
        "ix_metrics_level_counts",
        "env_id, granularity, level, bucket, consumer_id, status_code, request_count",
        None,
    ),
    (
        "ix_metrics_env_id_granularity_level_endpoint_id_bucket",
        "env_id, granularity, level, endpoint_id, bucket",
        None,
    ),
    (
        "ix_metrics_env_id_granularity_level_consumer_id_bucket",
        "env_id, granularity, level, consumer_id, bucket",
        None,
    ),
    ("ix_metrics_granularity_rolled_bucket", "granularity, rolled, bucket", None),
    (
        "ix_metrics_unrolled_minutes",
        "env_id, granularity, level, bucket",
        "granularity = 60 AND rolled = false",
    ),
)
FOREIGN_KEY = "CONSTRAINT fk_metrics_env_id_envs FOREIGN KEY (env_id) REFERENCES envs (id) ON DELETE CASCADE"


def _create_indexes() -> None:
    for name, columns, where in INDEXES:
        op.execute(f"CREATE INDEX {name} ON metrics ({columns})" + (f" WHERE {where}" if where else ""))


def _drop_indexes() -> None:
    for name, _, _ in INDEXES:
        op.execute(f"DROP INDEX {name}")


def _slice_name(parent: str, start: int) -> str:
    return f"{parent}_p{datetime.fromtimestamp(start, UTC):%Y%m%d}"


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    conn = op.get_bind()
    _drop_indexes()
    op.execute("ALTER TABLE metrics RENAME TO metrics_plain")
    op.execute("ALTER TABLE metrics_plain RENAME CONSTRAINT pk_metrics TO pk_metrics_plain")
    op.execute("ALTER SEQUENCE metrics_id_seq OWNED BY NONE")
    op.execute(
        "CREATE TABLE metrics (LIKE metrics_plain INCLUDING DEFAULTS, "
        f"CONSTRAINT pk_metrics PRIMARY KEY (id, granularity, bucket), {FOREIGN_KEY}) "
        "PARTITION BY LIST (granularity)"
    )
    op.execute("CREATE TABLE metrics_default PARTITION OF metrics DEFAULT")
    now = datetime.now(UTC).timestamp()
    for granularity, width in WIDTHS.items():
        parent = f"metrics_g{granularity}"
        op.execute(
            f"CREATE TABLE {parent} PARTITION OF metrics FOR VALUES IN ({granularity}) "
            "PARTITION BY RANGE (bucket)"
        )
        op.execute(f"CREATE TABLE {parent}_default PARTITION OF {parent} DEFAULT")
        held = conn.execute(
            sa.text(
                f"SELECT DISTINCT bucket / {width} * {width} FROM metrics_plain "
                f"WHERE granularity = {granularity}"
            )
        ).scalars()
        around = range(int(now + AROUND_NOW[0]) // width * width, int(now + AROUND_NOW[1]) + 1, width)
        for start in sorted({*map(int, held), *around}):
            op.execute(
                f"CREATE TABLE {_slice_name(parent, start)} PARTITION OF {parent} "
                f"FOR VALUES FROM ({start}) TO ({start + width})"
            )
    op.execute("INSERT INTO metrics SELECT * FROM metrics_plain")
    op.execute("DROP TABLE metrics_plain")
    op.execute("ALTER SEQUENCE metrics_id_seq OWNED BY metrics.id")
    _create_indexes()
    op.execute("ANALYZE metrics")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("CREATE TABLE metrics_plain (LIKE metrics INCLUDING DEFAULTS)")
    op.execute("INSERT INTO metrics_plain SELECT * FROM metrics")
    op.execute("ALTER SEQUENCE metrics_id_seq OWNED BY NONE")
    op.execute("DROP TABLE metrics")  # its partitions and indexes with it
    op.execute("ALTER TABLE metrics_plain RENAME TO metrics")
    op.execute(f"ALTER TABLE metrics ADD CONSTRAINT pk_metrics PRIMARY KEY (id), ADD {FOREIGN_KEY}")
    op.execute("ALTER SEQUENCE metrics_id_seq OWNED BY metrics.id")
    _create_indexes()
    op.execute("ANALYZE metrics")
