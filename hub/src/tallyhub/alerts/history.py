"""Reading what alerting did: the firings and resolutions of an app's rules, each with its notifications."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.storage.tables import alert_channels, alert_events, alert_notifications, alert_rules, envs


def _notifications(conn: sa.Connection, event_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    if not event_ids:
        return found
    rows = conn.execute(
        sa.select(alert_notifications, alert_channels.c.name.label("channel"), alert_channels.c.kind)
        .join_from(
            alert_notifications, alert_channels, alert_channels.c.id == alert_notifications.c.channel_id
        )
        .where(alert_notifications.c.event_id.in_(event_ids))
        .order_by(alert_notifications.c.id)
    )
    for row in rows:
        found.setdefault(row.event_id, []).append(
            {
                "id": row.id,
                "channel_id": row.channel_id,
                "channel": row.channel,
                "channel_kind": row.kind,
                "status": row.status,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "next_attempt_at": row.next_attempt_at,
                "sent_at": row.sent_at,
            }
        )
    return found


def events_of_app(
    conn: sa.Connection, app_id: int, limit: int = 100, before: int | None = None
) -> list[dict[str, Any]]:
    """The app's alert events, newest first (ids below `before`), each with its notifications."""
    query = (
        sa.select(
            alert_events,
            alert_rules.c.name.label("rule"),
            alert_rules.c.kind.label("rule_kind"),
            alert_rules.c.metric,
            envs.c.name.label("env"),
        )
        .join_from(alert_events, alert_rules, alert_rules.c.id == alert_events.c.rule_id)
        .join(envs, envs.c.id == alert_rules.c.env_id)
        .where(envs.c.app_id == app_id)
        .order_by(alert_events.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(alert_events.c.id < before)
    rows = conn.execute(query).all()
    notes = _notifications(conn, [row.id for row in rows])
    return [
        {
            "id": row.id,
            "rule_id": row.rule_id,
            "rule": row.rule,
            "rule_kind": row.rule_kind,
            "metric": row.metric,
            "env": row.env,
            "kind": row.kind,
            "at": row.at,
            "since": row.since,
            "value": row.value,
            "threshold": row.threshold,
            "title": row.title,
            "body": row.body,
            "notifications": notes.get(row.id, []),
        }
        for row in rows
    ]


def recent_of_channel(conn: sa.Connection, channel_id: int, limit: int = 20) -> list[sa.Row]:
    """The channel's latest notifications (tests included), newest first."""
    return list(
        conn.execute(
            sa.select(alert_notifications, alert_events.c.title)
            .join_from(
                alert_notifications,
                alert_events,
                alert_events.c.id == alert_notifications.c.event_id,
                isouter=True,
            )
            .where(alert_notifications.c.channel_id == channel_id)
            .order_by(alert_notifications.c.id.desc())
            .limit(limit)
        ).all()
    )
