"""Apps: the framework chosen when the app was created, so the setup page opens on its instructions

Revision ID: 0041
Revises: 0035
"""

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("framework", sa.String(32), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE, not a batch operation: on SQLite a batch rebuilds apps, and dropping the old
    # table cascades to everything of every app.
    op.execute("ALTER TABLE apps DROP COLUMN framework")
