"""Retention: rows older than their setting are deleted, in bounded batches so ingestion is not held up.

Minute rows are only deleted once rolled (their requests live on in hour and day rows). Idempotency keys
are kept for RECEIVED_KEEP_SECONDS: clients retry a payload for up to an hour (PROTOCOL.md §1A).
Alert history keeps what is still in play whatever its age: a notification still to be delivered,
and the firing of a rule that is still firing (with its notifications).
"""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.settings import Settings
from tallyhub.storage.database import Database
from tallyhub.storage.tables import (
    DAY,
    HOUR,
    MINUTE,
    alert_events,
    alert_notifications,
    alert_rules,
    error_counts,
    error_groups,
    health_check_results,
    incidents,
    metrics,
    received_messages,
    request_logs,
)

RECEIVED_KEEP_SECONDS = 2 * 3600
BATCH_ROWS = 10_000


def run(db: Database, settings: Settings, now: float) -> int:
    """Delete every row past its retention; returns how many rows were deleted."""
    days = 86400
    deleted = 0
    for granularity, keep_days in (
        (MINUTE, settings.retention_minute_days),
        (HOUR, settings.retention_hour_days),
        (DAY, settings.retention_day_days),
    ):
        condition = sa.and_(metrics.c.granularity == granularity, metrics.c.bucket < now - keep_days * days)
        if granularity == MINUTE:
            condition = sa.and_(condition, metrics.c.rolled.is_(True))
        deleted += _delete_batched(db, metrics, condition)
    errors_cutoff = now - settings.retention_errors_days * days
    deleted += _delete_batched(db, error_counts, error_counts.c.bucket < errors_cutoff)
    # A group with no count left and not seen since the cutoff describes nothing in range any more.
    deleted += _delete_batched(
        db,
        error_groups,
        sa.and_(
            error_groups.c.last_seen < errors_cutoff,
            ~sa.exists().where(error_counts.c.group_id == error_groups.c.id),
        ),
    )
    logs_cutoff = now - settings.retention_request_logs_days * days
    deleted += _delete_batched(db, request_logs, request_logs.c.timestamp < logs_cutoff)
    uptime_cutoff = now - settings.retention_uptime_days * days
    deleted += _delete_batched(db, health_check_results, health_check_results.c.checked_at < uptime_cutoff)
    deleted += _delete_batched(db, incidents, incidents.c.ended_at < uptime_cutoff)  # open ones stay
    deleted += _alert_history(db, now - settings.retention_alerts_days * days)
    with db.write() as conn:
        result = conn.execute(
            received_messages.delete().where(received_messages.c.received_at < now - RECEIVED_KEEP_SECONDS)
        )
        deleted += result.rowcount
    return deleted


def _alert_history(db: Database, cutoff: float) -> int:
    """Events before the cutoff with their notifications, and old channel tests; an event is kept whole
    while one of its notifications is pending or while it is the firing of a rule that still fires."""
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
    deleted = _delete_batched(
        db, alert_notifications, sa.or_(old_tests, alert_notifications.c.event_id.in_(past_events))
    )
    return deleted + _delete_batched(db, alert_events, alert_events.c.id.in_(past_events))


def _delete_batched(db: Database, table: sa.Table, condition: sa.ColumnElement[bool]) -> int:
    deleted = 0
    while True:
        with db.write() as conn:
            ids = sa.select(table.c.id).where(condition).limit(BATCH_ROWS)
            count = conn.execute(table.delete().where(table.c.id.in_(ids))).rowcount
        deleted += count
        if count < BATCH_ROWS:
            return deleted
