"""The rollup's progress as a mark (rollup_marks) instead of a `rolled` flag on every minute row

Revision ID: 0042
Revises: 0040

Marking each minute row rolled rewrote the row and its indexes: on PostgreSQL that UPDATE was most of the
rollup's time (issue 14). The mark says which minute rows are in the hour and day rows: those with bucket
< minutes_before and id <= through_id (tables.py). Rows already marked `rolled` keep their flag, which
readers still honour, so the upgrade rewrites no metric row: the mark starts at the first minute still
unrolled (every later row not flagged counts as unrolled) and at the largest id. The partial index on
unrolled minutes goes: without the flag being set it would index every minute row.

Downgrade flags the rows the mark has passed and brings the partial index back.
"""

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0040"
branch_labels = None
depends_on = None

UNROLLED = "granularity = 60 AND rolled = false"
INDEX = "ix_metrics_unrolled_minutes"


def upgrade() -> None:
    op.create_table(
        "rollup_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("minutes_before", sa.BigInteger(), nullable=False),
        sa.Column("through_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_marks")),
    )
    op.execute(
        "INSERT INTO rollup_marks (id, minutes_before, through_id) SELECT 1,"
        f" coalesce((SELECT min(bucket) FROM metrics WHERE {UNROLLED}), 0),"
        " coalesce((SELECT max(id) FROM metrics), 0)"
    )
    op.drop_index(INDEX, table_name="metrics")


def downgrade() -> None:
    op.execute(
        f"UPDATE metrics SET rolled = true WHERE {UNROLLED}"
        " AND bucket < (SELECT minutes_before FROM rollup_marks)"
        " AND id <= (SELECT through_id FROM rollup_marks)"
    )
    op.create_index(
        INDEX,
        "metrics",
        ["env_id", "granularity", "level", "bucket"],
        sqlite_where=sa.text(UNROLLED),
        postgresql_where=sa.text(UNROLLED),
    )
    op.drop_table("rollup_marks")
