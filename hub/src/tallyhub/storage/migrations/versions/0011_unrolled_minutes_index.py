"""partial index on minute metrics not yet rolled up (read by every hour/day query)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UNROLLED_MINUTES = "granularity = 60 AND rolled = false"


def upgrade() -> None:
    op.create_index(
        "ix_metrics_unrolled_minutes",
        "metrics",
        ["env_id", "granularity", "level", "bucket"],
        sqlite_where=sa.text(UNROLLED_MINUTES),
        postgresql_where=sa.text(UNROLLED_MINUTES),
    )


def downgrade() -> None:
    op.drop_index("ix_metrics_unrolled_minutes", table_name="metrics")
