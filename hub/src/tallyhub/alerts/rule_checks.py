"""The alert-rule job: claim each due rule, check it, move its streaks, and record firings and resolutions.

A rule is claimed by moving its `next_check_at` forward with a conditional UPDATE (it must still hold
the value this process read), so that with several hub processes on one database each rule is checked
exactly once per interval (with a cron schedule: at its next matching minute after the interval,
alerts.schedule). A firing or resolution is stored with one pending notification per channel
in the same transaction as the rule's new state: the delivery job sends them.
"""

from __future__ import annotations

import dataclasses
import logging

import sqlalchemy as sa

from tallyhub.alerts import messages
from tallyhub.alerts import rules as rule_store
from tallyhub.alerts.rule_eval import Evaluation, evaluate
from tallyhub.alerts.schedule import next_check
from tallyhub.settings import Settings
from tallyhub.storage.database import Database
from tallyhub.storage.tables import alert_events, alert_notifications, alert_rules

log = logging.getLogger(__name__)
MAX_RULES_PER_RUN = 200


@dataclasses.dataclass(frozen=True)
class Due:
    """A rule whose check is due, with what deciding its next check needs."""

    rule_id: int
    next_check_at: float
    interval_seconds: int
    schedule: str | None
    timezone: str | None


def due_rules(db: Database, now: float) -> list[Due]:
    r = alert_rules.c
    with db.read() as conn:
        rows = conn.execute(
            sa.select(r.id, r.next_check_at, r.interval_seconds, r.schedule, r.timezone)
            .where(r.paused.is_(False), r.next_check_at <= now)
            .order_by(r.next_check_at)
            .limit(MAX_RULES_PER_RUN)
        ).all()
    return [Due(int(row[0]), float(row[1]), int(row[2]), row[3], row[4]) for row in rows]


def claim(db: Database, due: Due, now: float) -> bool:
    """Take this interval's check of the rule; False when another process took it first.

    The rule's schedule and interval are those read with it: an edit meanwhile resets next_check_at,
    so the claim then fails and the edited rule is checked as its new schedule says.
    """
    upcoming = next_check(due.schedule, due.timezone, due.interval_seconds, now)
    with db.write() as conn:
        result = conn.execute(
            alert_rules.update()
            .where(
                alert_rules.c.id == due.rule_id,
                alert_rules.c.next_check_at == due.next_check_at,
                alert_rules.c.paused.is_(False),
            )
            .values(next_check_at=upcoming)
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
    for due in due_rules(db, now):
        try:
            claimed = claim(db, due, now)
        except Exception:  # e.g. a time zone the zone database lost: the other rules go on
            log.exception("alert rule %s could not be scheduled", due.rule_id)
            continue
        if not claimed:
            continue
        try:
            check_rule(db, settings, due.rule_id, now)
        except Exception:  # one broken rule must not stop the others; it is retried next interval
            log.exception("alert rule %s could not be checked", due.rule_id)
        checked += 1
    return checked
