"""Endpoint settings (expected status codes, own Apdex T, excluded, hidden) and an app's own Apdex T

Revision ID: 0028
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("apdex_threshold_ms", sa.Integer(), nullable=True))
    op.create_table(
        "endpoint_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path_key", sa.String(1000), nullable=False),
        sa.Column("expected_statuses", sa.JSON(), nullable=False),
        sa.Column("apdex_threshold_ms", sa.Integer(), nullable=True),
        sa.Column("excluded", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_endpoint_settings_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_settings")),
        sa.UniqueConstraint(
            "app_id", "method", "path_key", name=op.f("uq_endpoint_settings_app_id_method_path_key")
        ),
    )


def downgrade() -> None:
    op.drop_table("endpoint_settings")
    # Not a batch operation: on SQLite that rebuilds apps, and dropping the old table cascades to
    # everything of every app (its envs, metrics, logs).
    op.execute("ALTER TABLE apps DROP COLUMN apdex_threshold_ms")
