"""Instances' CPU and memory per minute (instance_minutes), rolled up per env into hours and days

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "instance_minutes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("memory_rss", sa.BigInteger(), nullable=True),
        sa.Column("rolled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_instance_minutes_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_minutes")),
    )
    op.create_index(op.f("ix_instance_minutes_env_id_bucket"), "instance_minutes", ["env_id", "bucket"])
    op.create_index(op.f("ix_instance_minutes_rolled_bucket"), "instance_minutes", ["rolled", "bucket"])
    op.create_table(
        "resource_rollups",
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("granularity", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("cpu_min", sa.Float(), nullable=True),
        sa.Column("cpu_max", sa.Float(), nullable=True),
        sa.Column("cpu_sum", sa.Float(), nullable=False),
        sa.Column("cpu_count", sa.Integer(), nullable=False),
        sa.Column("memory_min", sa.BigInteger(), nullable=True),
        sa.Column("memory_max", sa.BigInteger(), nullable=True),
        sa.Column("memory_sum", sa.BigInteger(), nullable=False),
        sa.Column("memory_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_resource_rollups_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("env_id", "granularity", "bucket", name=op.f("pk_resource_rollups")),
    )


def downgrade() -> None:
    op.drop_table("resource_rollups")
    op.drop_index(op.f("ix_instance_minutes_rolled_bucket"), table_name="instance_minutes")
    op.drop_index(op.f("ix_instance_minutes_env_id_bucket"), table_name="instance_minutes")
    op.drop_table("instance_minutes")
