"""Retention of alert history: old events and notifications go; open firings and pending deliveries stay."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from tallyhub.alerts import retention
from tallyhub.storage.database import Database
from tallyhub.storage.tables import alert_channels, alert_events, alert_notifications, alert_rules

from tests.support.alerts import T0, AlertWorld, alert_world

DAY = 86400.0
OLD = T0 - 91 * DAY  # past the default retention_alerts_days (90)


def _event(world: AlertWorld, rule_id: int, kind: str, at: float, *statuses: str) -> int:
    """An event at `at` with one notification per status (to the world's first channel)."""
    with world.db.write() as conn:
        event_id = int(
            conn.execute(
                alert_events.insert()
                .values(rule_id=rule_id, kind=kind, at=at, since=at, threshold=1.0, title="t", body="b")
                .returning(alert_events.c.id)
            ).scalar_one()
        )
    for status in statuses:
        _notification(world, event_id, status, at)
    return event_id


def _notification(world: AlertWorld, event_id: int | None, status: str, at: float) -> None:
    with world.db.write() as conn:
        channel_id = conn.execute(sa.select(sa.func.min(alert_channels.c.id))).scalar_one()
        conn.execute(
            alert_notifications.insert().values(
                event_id=event_id,
                channel_id=channel_id,
                status=status,
                attempts=1,
                created_at=at,
                next_attempt_at=at + 30 if status == "pending" else None,
            )
        )


def _left(db: Database) -> tuple[list[int], list[tuple[int | None, str]]]:
    with db.read() as conn:
        events = conn.execute(sa.select(alert_events.c.id).order_by(alert_events.c.id)).scalars().all()
        notifications = conn.execute(
            sa.select(alert_notifications.c.event_id, alert_notifications.c.status).order_by(
                alert_notifications.c.id
            )
        ).all()
    return list(events), [(e, s) for e, s in notifications]


def test_old_alert_history_goes_but_open_firings_and_pending_deliveries_stay(db: Database) -> None:
    world = alert_world(db)
    world.channel("json://127.0.0.1:9/x")
    calm = world.rule(name="calm", kind="env_down")
    firing = world.rule(name="firing", kind="env_down")
    with db.write() as conn:
        conn.execute(alert_rules.update().where(alert_rules.c.id == firing).values(state="firing"))

    _event(world, calm, "fired", OLD, "sent")  # closed and delivered: goes
    _event(world, calm, "resolved", OLD + 60, "failed")  # given up long ago: goes
    _notification(world, None, "sent", OLD)  # an old channel test: goes
    still_sending = _event(world, calm, "fired", OLD + 120, "sent", "pending")  # pending: stays
    _event(world, firing, "fired", OLD - DAY, "sent")  # an older, closed firing of the firing rule: goes
    _event(world, firing, "resolved", OLD - DAY + 60, "sent")
    open_firing = _event(world, firing, "fired", OLD, "failed")  # the rule still fires: stays
    recent = _event(world, calm, "resolved", T0 - DAY, "sent")
    _notification(world, None, "failed", T0 - DAY)

    deleted = retention.run(db, world.settings, T0)

    events, notifications = _left(db)
    assert events == [still_sending, open_firing, recent]
    assert notifications == [
        (still_sending, "sent"),
        (still_sending, "pending"),
        (open_firing, "failed"),
        (recent, "sent"),
        (None, "failed"),
    ]
    assert deleted >= 4 + 5  # 4 events, 5 notifications (and nothing else in this database)
    assert retention.run(db, world.settings, T0) == 0

    # Once delivered, and once the rule has resolved, they go too.
    with db.write() as conn:
        conn.execute(
            alert_notifications.update()
            .where(alert_notifications.c.status == "pending")
            .values(status="sent", next_attempt_at=None)
        )
        conn.execute(alert_rules.update().values(state="ok"))
    retention.run(db, world.settings, T0)
    assert _left(db) == ([recent], [(recent, "sent"), (None, "failed")])
    # The setting decides: with 0 days nothing before now is kept.
    retention.run(db, dataclasses.replace(world.settings, retention_alerts_days=0), T0)
    assert _left(db) == ([], [])
