"""OTLP: trace items (child spans and log records, joined to request logs by trace id), request sources

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _env_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["env_id"], ["envs.id"], name=op.f(f"fk_{table}_env_id_envs"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "trace_items",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.Column("parent_span_id", sa.String(length=16), nullable=True),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _env_fk("trace_items"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_items")),
    )
    op.create_index(op.f("ix_trace_items_env_id_trace_id"), "trace_items", ["env_id", "trace_id"])
    op.create_index(op.f("ix_trace_items_timestamp"), "trace_items", ["timestamp"])
    op.create_table(
        "request_sources",
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        _env_fk("request_sources"),
        sa.PrimaryKeyConstraint("env_id", "instance", name=op.f("pk_request_sources")),
    )
    op.create_index(op.f("ix_request_sources_first_seen"), "request_sources", ["first_seen"])


def downgrade() -> None:
    op.drop_table("request_sources")
    op.drop_table("trace_items")
