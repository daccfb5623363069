"""api_tokens.read_only: a token kind that may only read (GET) through the API

Revision ID: 0016
Revises: 0015

Tokens made before this revision keep what they could do (read_only false).
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch copy: on SQLite a copy would lose team_id's ON DELETE CASCADE.
    op.add_column(
        "api_tokens", sa.Column("read_only", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("api_tokens", "read_only")
