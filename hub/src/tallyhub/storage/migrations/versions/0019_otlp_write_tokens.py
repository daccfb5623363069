"""otlp: write tokens per app, and the last values of cumulative metric streams

Revision ID: 0019
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0015"  # re-chained after main's 0018 -> 0015 (assigned: after 0014)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_write_tokens_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_write_tokens_token_hash")),
    )
    op.create_index(op.f("ix_write_tokens_app_id"), "write_tokens", ["app_id"], unique=False)
    op.create_table(
        "metric_streams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("stream_key", sa.String(length=64), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_metric_streams_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_streams")),
        sa.UniqueConstraint("env_id", "stream_key", name=op.f("uq_metric_streams_env_id_stream_key")),
    )
    op.create_index(op.f("ix_metric_streams_updated_at"), "metric_streams", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_metric_streams_updated_at"), table_name="metric_streams")
    op.drop_table("metric_streams")
    op.drop_index(op.f("ix_write_tokens_app_id"), table_name="write_tokens")
    op.drop_table("write_tokens")
