"""Application logs and spans of logged requests, one row each, indexed for the pages across requests

Revision ID: 0027
Revises: 0025

Records stored before this revision stay in their request's details only: the application-logs and
traces pages show what arrives from now on (older records age out with request-log retention).
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0025"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _env_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["env_id"], ["envs.id"], name=op.f(f"fk_{table}_env_id_envs"), ondelete="CASCADE"
    )


def _indexes(table: str, *indexes: tuple[str, ...]) -> None:
    for columns in indexes:
        op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    op.create_table(
        "app_log_records",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("request_uuid", sa.String(length=36), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("logger", sa.String(length=200), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        _env_fk("app_log_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_log_records")),
    )
    _indexes("app_log_records", ("env_id", "timestamp"), ("env_id", "level", "timestamp"))
    _indexes("app_log_records", ("env_id", "logger", "timestamp"))
    op.create_table(
        "span_records",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("request_uuid", sa.String(length=36), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("duration_bin", sa.SmallInteger(), nullable=False),
        _env_fk("span_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_span_records")),
    )
    _indexes(
        "span_records",
        ("env_id", "timestamp", "name", "duration_bin"),
        ("env_id", "name", "timestamp", "duration_bin"),
    )


def downgrade() -> None:
    op.drop_table("span_records")
    op.drop_table("app_log_records")
