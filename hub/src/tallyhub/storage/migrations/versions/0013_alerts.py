"""alerts: notification channels, alert rules with their state, events and notification deliveries

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _fk(column: str, target: str, table: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{ref_table}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "alert_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        _fk("team_id", "teams.id", "alert_channels"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_channels")),
    )
    op.create_index(op.f("ix_alert_channels_team_id"), "alert_channels", ["team_id"], unique=False)
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("metric", sa.String(length=30), nullable=True),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("comparison", sa.String(length=2), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=True),
        sa.Column("scope_value", sa.String(length=1100), nullable=True),
        sa.Column("baseline_hours", sa.Integer(), nullable=False, server_default="6"),
        sa.Column("fire_after", sa.Integer(), nullable=False),
        sa.Column("resolve_after", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("next_check_at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False, server_default="ok"),
        sa.Column("breach_streak", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("good_streak", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("breaching_since", sa.Float(), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_checked_at", sa.Float(), nullable=True),
        _fk("env_id", "envs.id", "alert_rules"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
    )
    op.create_index(op.f("ix_alert_rules_env_id"), "alert_rules", ["env_id"], unique=False)
    op.create_table(
        "alert_rule_channels",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        _fk("rule_id", "alert_rules.id", "alert_rule_channels"),
        _fk("channel_id", "alert_channels.id", "alert_rule_channels"),
        sa.PrimaryKeyConstraint("rule_id", "channel_id", name=op.f("pk_alert_rule_channels")),
    )
    op.create_index(
        op.f("ix_alert_rule_channels_channel_id"), "alert_rule_channels", ["channel_id"], unique=False
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _fk("rule_id", "alert_rules.id", "alert_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index(op.f("ix_alert_events_rule_id_at"), "alert_events", ["rule_id", "at"], unique=False)
    op.create_table(
        "alert_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=True),
        sa.Column("sent_at", sa.Float(), nullable=True),
        _fk("event_id", "alert_events.id", "alert_notifications"),
        _fk("channel_id", "alert_channels.id", "alert_notifications"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
    )
    op.create_index(
        op.f("ix_alert_notifications_channel_id"), "alert_notifications", ["channel_id"], unique=False
    )
    op.create_index(
        op.f("ix_alert_notifications_event_id"), "alert_notifications", ["event_id"], unique=False
    )
    op.create_index(
        op.f("ix_alert_notifications_status_next_attempt_at"),
        "alert_notifications",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("alert_notifications")
    op.drop_table("alert_events")
    op.drop_table("alert_rule_channels")
    op.drop_table("alert_rules")
    op.drop_table("alert_channels")
