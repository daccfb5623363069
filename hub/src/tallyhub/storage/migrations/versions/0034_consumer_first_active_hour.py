"""Consumers' first hour with requests (consumers.first_active_hour), for the new/returning chart

Set from consumer_hours (the earliest hour of any env); ingestion keeps it at the earliest hour it adds.

Revision ID: 0034
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("consumers", sa.Column("first_active_hour", sa.BigInteger(), nullable=True))
    op.create_index(
        op.f("ix_consumers_app_id_first_active_hour_first_seen"),
        "consumers",
        ["app_id", "first_active_hour", "first_seen"],
    )
    # UPDATE ... FROM (SQLite 3.33+, PostgreSQL): one grouped scan, not a lookup per consumer (consumer_hours
    # has no index by consumer).
    op.execute(
        "UPDATE consumers SET first_active_hour = earliest.bucket"
        " FROM (SELECT consumer_id, min(bucket) AS bucket FROM consumer_hours GROUP BY consumer_id)"
        " AS earliest"
        " WHERE consumers.id = earliest.consumer_id"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_consumers_app_id_first_active_hour_first_seen"), table_name="consumers")
    # Not batch_alter_table: on SQLite that rebuilds the table (see the common notes on apps/envs).
    op.execute("ALTER TABLE consumers DROP COLUMN first_active_hour")
