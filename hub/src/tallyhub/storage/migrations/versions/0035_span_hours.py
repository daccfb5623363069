"""Spans per env, hour, name and duration bin (span_hours), for the traces view over long ranges

Filled from span_records; ingestion adds to it as it appends spans from then on.

Revision ID: 0035
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "span_hours",
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("duration_bin", sa.SmallInteger(), nullable=False),
        sa.Column("spans", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_span_hours_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("env_id", "bucket", "name", "duration_bin", name=op.f("pk_span_hours")),
        sqlite_with_rowid=False,
    )
    # The hour of a timestamp as ingestion computes it (exact floor): the division may round up to the next
    # hour just below its boundary, which the CASE takes back. Timestamps are positive, CAST truncates.
    hour = "CAST(FLOOR(timestamp / 3600) AS BIGINT) * 3600"
    if op.get_bind().dialect.name == "sqlite":
        hour = "CAST(timestamp / 3600 AS INTEGER) * 3600"
    op.execute(
        "INSERT INTO span_hours (env_id, bucket, name, duration_bin, spans)"
        " SELECT env_id, bucket, name, duration_bin, count(*) FROM ("
        "  SELECT env_id, name, duration_bin,"
        "   hour - CASE WHEN timestamp < hour THEN 3600 ELSE 0 END AS bucket"
        f"  FROM (SELECT env_id, name, duration_bin, timestamp, {hour} AS hour FROM span_records) AS rows"
        " ) AS hours GROUP BY env_id, bucket, name, duration_bin"
    )


def downgrade() -> None:
    op.drop_table("span_hours")
