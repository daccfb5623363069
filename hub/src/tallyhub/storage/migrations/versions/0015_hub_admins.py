"""users.is_hub_admin: hub admins may create teams; the first user of an existing hub becomes one

Revision ID: 0015
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("is_hub_admin", sa.Boolean(), nullable=False, server_default=sa.false()))
    users = sa.table("users", sa.column("id", sa.Integer()), sa.column("is_hub_admin", sa.Boolean()))
    # The first admin, who set the hub up, keeps the right to create teams that every user had.
    first = sa.select(sa.func.min(users.c.id)).scalar_subquery()
    op.execute(users.update().where(users.c.id == first).values(is_hub_admin=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_hub_admin")
