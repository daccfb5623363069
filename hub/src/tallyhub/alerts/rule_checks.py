"""The alert-rule job: claim each due rule, check it, move its streaks, and record firings and resolutions.

A rule is claimed by moving its `next_check_at` forward with a conditional UPDATE (it must still hold
the value this process read), so that with several hub processes on one database each rule is checked
exactly once per interval. A firing or resolution is stored with one pending notification per channel
in the same transaction as the rule's new state: the delivery job sends them.
"""

from __future__ import annotations

import dataclasses
import logging

import sqlalchemy as sa

from tallyhub.alerts import messages
from tallyhub.alerts import rules as rule_store
from tallyhub.alerts.rule_eval import Evaluation, evaluate
from tallyhub.settings import Settings
from tallyhub.storage.database import Database
from tallyhub.storage.tables import alert_events, alert_notifications, alert_rules

log = logging.getLogger(__name__)
MAX_RULES_PER_RUN = 200


def due_rules(db: Database, now: float) -> list[tuple[int, float]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(alert_rules.c.id, alert_rules.c.next_check_at)
            .where(alert_rules.c.paused.is_(False), alert_rules.c.next_check_at <= now)
            .order_by(alert_rules.c.next_check_at)
            .limit(MAX_RULES_PER_RUN)
        ).all()
    return [(int(rule_id), float(at)) for rule_id, at in rows]


def claim(db: Database, rule_id: int, seen_next_check_at: float, now: float) -> bool:
    """Take this interval's check of the rule; False when another process took it first."""
    with db.write() as conn:
        interval = (
            sa.select(alert_rules.c.interval_seconds).where(alert_rules.c.id == rule_id).scalar_subquery()
        )
        result = conn.execute(
            alert_rules.update()
            .where(
                alert_rules.c.id == rule_id,
                alert_rules.c.next_check_at == seen_next_check_at,
                alert_rules.c.paused.is_(False),
            )
            .values(next_check_at=now + interval)
        )
        return result.rowcount == 1


@dataclasses.dataclass(frozen=True)
class Transition:
    """The rule's state after one check, and the event it caused ("fired", "resolved" or None)."""

    state: str
    breach_streak: int
    good_streak: int
    breaching_since: float | None
    event: str | None


def step(rule: rule_store.Rule, evaluation: Evaluation, now: float) -> Transition:
    """Streaks: fire after `fire_after` breaching checks in a row, resolve after `resolve_after` good ones."""
    if evaluation.breaching:
        streak = rule.breach_streak + 1
        since = rule.breaching_since if rule.breaching_since is not None else (evaluation.since or now)
        if rule.state == "ok" and streak >= rule.fire_after:
            return Transition("firing", streak, 0, since, "fired")
        return Transition(rule.state, streak, 0, since, None)
    good = rule.good_streak + 1
    if rule.state == "firing":
        if good >= rule.resolve_after:
            return Transition("ok", 0, good, None, "resolved")
        return Transition("firing", 0, good, rule.breaching_since, None)
    return Transition("ok", 0, good, None, None)


def _record_event(
    conn: sa.Connection,
    rule: rule_store.Rule,
    kind: str,
    message: messages.Message,
    evaluation: Evaluation,
    since: float,
    now: float,
) -> None:
    event_id = conn.execute(
        alert_events.insert()
        .values(
            rule_id=rule.id,
            kind=kind,
            at=now,
            since=since,
            value=evaluation.value,
            threshold=rule.threshold,
            title=message.title,
            body=message.body,
        )
        .returning(alert_events.c.id)
    ).scalar_one()
    if rule.channel_ids:
        conn.execute(
            alert_notifications.insert(),
            [
                {
                    "event_id": event_id,
                    "channel_id": channel_id,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                }
                for channel_id in rule.channel_ids
            ],
        )


def check_rule(db: Database, settings: Settings, rule_id: int, now: float) -> str | None:
    """Check one claimed rule and store the evaluation; returns the event it caused, if any."""
    with db.read() as conn:
        rule = rule_store.get(conn, rule_id)
    if rule is None:
        return None
    evaluation = evaluate(db, rule, now, settings.apdex_threshold_ms)
    change = step(rule, evaluation, now)
    with db.write() as conn:
        conn.execute(
            alert_rules.update()
            .where(alert_rules.c.id == rule.id)
            .values(
                state=change.state,
                breach_streak=change.breach_streak,
                good_streak=change.good_streak,
                breaching_since=change.breaching_since,
                last_value=evaluation.value,
                last_checked_at=now,
            )
        )
        if change.event == "fired":
            since = change.breaching_since or now
            message = messages.fired(settings, rule, evaluation, since, now)
            _record_event(conn, rule, "fired", message, evaluation, since, now)
        elif change.event == "resolved":
            since = rule.breaching_since or now
            message = messages.resolved(settings, rule, evaluation, since, now)
            _record_event(conn, rule, "resolved", message, evaluation, since, now)
    return change.event


def run(db: Database, settings: Settings, now: float) -> int:
    """Check every due rule this process can claim; returns how many it checked."""
    checked = 0
    for rule_id, seen in due_rules(db, now):
        if not claim(db, rule_id, seen, now):
            continue
        try:
            check_rule(db, settings, rule_id, now)
        except Exception:  # one broken rule must not stop the others; it is retried next interval
            log.exception("alert rule %s could not be checked", rule_id)
        checked += 1
    return checked
