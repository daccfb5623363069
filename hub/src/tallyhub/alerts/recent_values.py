"""A metric rule's recent values, as its checks would have measured them, for the rule's page chart."""

from __future__ import annotations

from tallyhub.alerts.rule_metrics import measure, scope_filters
from tallyhub.alerts.rules import Rule
from tallyhub.storage.database import Database

POINTS = 60


def recent_values(
    db: Database, rule: Rule, now: float, apdex_t: int, points: int = POINTS
) -> list[tuple[float, float | None]]:
    """(time, value) of the rule's metric over its window ending at each of `points` moments one check
    interval apart, the last being `now`, oldest first; None where there was nothing to measure."""
    assert rule.metric is not None
    flt = scope_filters(rule.env, rule.scope, rule.scope_value)
    moments = [now - k * rule.interval_seconds for k in range(points - 1, -1, -1)]
    with db.read() as conn:
        return [
            (at, measure(conn, rule.app_id, rule.metric, flt, at, rule.window_seconds, apdex_t))
            for at in moments
        ]
