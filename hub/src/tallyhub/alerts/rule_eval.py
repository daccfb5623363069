"""One check of one rule: its current value and whether that value breaches the rule."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from tallyhub.alerts.rule_metrics import measure, scope_filters, window_range
from tallyhub.alerts.rule_spec import COMPARISONS
from tallyhub.alerts.rules import Rule
from tallyhub.analytics import filters
from tallyhub.analytics.incidents import open_incidents
from tallyhub.metrics import reads as metrics
from tallyhub.metrics.selection import TimeRange
from tallyhub.storage.database import Database
from tallyhub.storage.tables import HOUR, NO_ID, consumers


@dataclasses.dataclass(frozen=True)
class Evaluation:
    value: float | None  # None: nothing to measure (no requests for a percentile, no instance)
    breaching: bool
    since: float | None = None  # when the trouble began, if the check knows (an incident's start)
    detail: str = ""  # what the check found, in words (incident causes, quiet consumers)


def _incidents(db: Database, rule: Rule, kind: str) -> Evaluation:
    found = [row for row in open_incidents(db, rule.env_id) if row.kind == kind]
    if not found:
        return Evaluation(0.0, False)
    causes = "; ".join(sorted({row.cause for row in found}))
    return Evaluation(float(len(found)), True, since=min(row.started_at for row in found), detail=causes)


def quiet_consumers(conn: sa.Connection, rule: Rule, now: float) -> list[str]:
    """Consumers with requests in each of the `baseline_hours` whole hours before the window, none in it.

    "Steady traffic" is that baseline: a consumer seen only now and then never counts as gone quiet.
    """
    window = window_range(now, rule.window_seconds)
    resolved = filters.resolve(conn, rule.app_id, scope_filters(rule.env, rule.scope, rule.scope_value))
    baseline_end = window.start // HOUR * HOUR
    baseline = TimeRange(baseline_end - rule.baseline_hours * HOUR, baseline_end, "hour")
    per_consumer = metrics.consumer_bucket_tallies(conn, resolved, baseline)
    steady = [
        consumer_id
        for consumer_id, buckets in per_consumer.items()
        if consumer_id != NO_ID and all(buckets.get(b) and buckets[b].requests for b in baseline.buckets())
    ]
    if not steady:
        return []
    recent = metrics.tallies(conn, resolved, window, "consumer", with_histograms=False)
    quiet = [c for c in steady if not (recent.get(c) and recent[c].requests)]
    if not quiet:
        return []
    names = conn.execute(
        sa.select(consumers.c.identifier, consumers.c.name).where(consumers.c.id.in_(quiet))
    ).all()
    return sorted(name or identifier for identifier, name in names)


def evaluate(db: Database, rule: Rule, now: float, apdex_t: int) -> Evaluation:
    """Check the rule once against the data as of `now`."""
    if rule.kind == "env_down":
        return _incidents(db, rule, "heartbeat")
    if rule.kind == "health_check_failing":
        return _incidents(db, rule, "health_check")
    with db.read() as conn:
        if rule.kind == "consumer_quiet":
            quiet = quiet_consumers(conn, rule, now)
            return Evaluation(float(len(quiet)), bool(quiet), detail=", ".join(quiet))
        assert rule.metric is not None
        flt = scope_filters(rule.env, rule.scope, rule.scope_value)
        value = measure(conn, rule.app_id, rule.metric, flt, now, rule.window_seconds, apdex_t)
    breaching = value is not None and COMPARISONS[rule.comparison](value, rule.threshold)
    return Evaluation(value, breaching)
