"""cap_hits: which cardinality cap (consumers, endpoints, environments) an app went past, and since when;
ix_metrics_level_counts replaces ix_metrics_env_id_granularity_level_bucket, adding the columns that
consumer lists sort by, so that they read the index alone (100,000 consumers in a range)

Revision ID: 0017
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cap_hits",
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_cap_hits_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("app_id", "kind", name=op.f("pk_cap_hits")),
    )
    op.create_index(
        "ix_metrics_level_counts",
        "metrics",
        ["env_id", "granularity", "level", "bucket", "consumer_id", "status_code", "request_count"],
    )
    op.drop_index("ix_metrics_env_id_granularity_level_bucket", table_name="metrics")


def downgrade() -> None:
    op.create_index(
        "ix_metrics_env_id_granularity_level_bucket", "metrics", ["env_id", "granularity", "level", "bucket"]
    )
    op.drop_index("ix_metrics_level_counts", table_name="metrics")
    op.drop_table("cap_hits")
