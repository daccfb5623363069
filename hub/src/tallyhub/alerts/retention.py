"""Retention of alert history: firings, resolutions and their notifications past `retention_alerts_days`.

What is still in play stays whatever its age: a notification still to be delivered, and the firing of
a rule that is still firing (with its notifications).
"""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.settings import Settings
from tallyhub.storage.bulk import delete_batched
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, alert_events, alert_notifications, alert_rules


def run(db: Database, settings: Settings, now: float) -> int:
    """Delete events before the cutoff with their notifications, and old channel tests; returns how many.

    An event is kept whole while one of its notifications is pending or while it is the firing of a
    rule that still fires.
    """
    cutoff = now - settings.retention_alerts_days * DAY
    latest, pending = alert_events.alias("latest"), alert_notifications.alias("pending")
    open_firings = (
        sa.select(sa.func.max(latest.c.id))
        .join(alert_rules, alert_rules.c.id == latest.c.rule_id)
        .where(alert_rules.c.state == "firing")
        .group_by(latest.c.rule_id)
    )
    past_events = (
        sa.select(alert_events.c.id)
        .where(
            alert_events.c.at < cutoff,
            alert_events.c.id.not_in(open_firings),
            ~sa.exists().where(pending.c.event_id == alert_events.c.id, pending.c.status == "pending"),
        )
        .correlate(None)  # one set for the whole statement, whatever table it deletes from
    )
    old_tests = sa.and_(
        alert_notifications.c.event_id.is_(None),
        alert_notifications.c.created_at < cutoff,
        alert_notifications.c.status != "pending",
    )
    deleted = delete_batched(
        db, alert_notifications, sa.or_(old_tests, alert_notifications.c.event_id.in_(past_events))
    )
    return deleted + delete_batched(db, alert_events, alert_events.c.id.in_(past_events))
