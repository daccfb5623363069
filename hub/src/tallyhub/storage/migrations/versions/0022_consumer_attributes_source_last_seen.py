"""consumers.attributes (apitally.consumer.update's attributes), request_sources.last_seen (for retention)

Revision ID: 0022
Revises: 0017

A counting-source claim is deleted by the retention job once its instance has sent nothing for a while,
so `last_seen` starts as the claim's `first_seen`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("consumers", sa.Column("attributes", sa.JSON(), nullable=True))
    op.add_column("request_sources", sa.Column("last_seen", sa.Float(), nullable=False, server_default="0"))
    op.execute("UPDATE request_sources SET last_seen = first_seen")
    op.create_index(op.f("ix_request_sources_last_seen"), "request_sources", ["last_seen"])


def downgrade() -> None:
    op.drop_index(op.f("ix_request_sources_last_seen"), table_name="request_sources")
    with op.batch_alter_table("request_sources") as batch:
        batch.drop_column("last_seen")
    with op.batch_alter_table("consumers") as batch:
        batch.drop_column("attributes")
