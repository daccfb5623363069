"""Alert rules: a cron schedule for checks and its time zone; an app's Sentry organisation URL;
the instance metrics renamed to Apitally's "max across instances" names

Revision ID: 0033
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0029"
branch_labels = None
depends_on = None

# The old instance metrics were already the busiest instance's value: the "max" of the new pairs.
_RENAMED = {"instance_cpu": "cpu_max", "instance_memory": "memory_max"}


def upgrade() -> None:
    op.add_column("alert_rules", sa.Column("schedule", sa.String(100), nullable=True))
    op.add_column("alert_rules", sa.Column("timezone", sa.String(64), nullable=True))
    op.add_column("apps", sa.Column("sentry_org_url", sa.String(500), nullable=True))
    for old, new in _RENAMED.items():
        op.execute(
            sa.text("UPDATE alert_rules SET metric = :new WHERE metric = :old").bindparams(old=old, new=new)
        )


def downgrade() -> None:
    for old, new in _RENAMED.items():
        op.execute(
            sa.text("UPDATE alert_rules SET metric = :old WHERE metric = :new").bindparams(old=old, new=new)
        )
    # Plain ALTER TABLE, not a batch operation: on SQLite a batch rebuilds apps, and dropping the old
    # table cascades to everything of every app.
    op.execute("ALTER TABLE apps DROP COLUMN sentry_org_url")
    op.execute("ALTER TABLE alert_rules DROP COLUMN timezone")
    op.execute("ALTER TABLE alert_rules DROP COLUMN schedule")
