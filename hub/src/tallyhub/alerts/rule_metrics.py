"""The metrics an alert rule can watch, and their value over a rule's window, from tallyhub.analytics.

Values come from the same code the dashboard and the read API use (metrics.tallies, Tally.stats,
instances.list_instances), so a rule and the page its message links to agree.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import sqlalchemy as sa

from tallyhub.analytics import instances
from tallyhub.analytics.query import Filters
from tallyhub.analytics.selection import resolve
from tallyhub.metrics import reads as metrics
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.storage.tables import MINUTE, NO_ID


@dataclasses.dataclass(frozen=True)
class Metric:
    label: str
    unit: str  # shown after values: "ms", "%", "MB", … ("" for counts and Apdex)
    page: str  # the dashboard page a message links to
    scoped: bool = True  # whether a consumer, group or endpoint scope applies
    histograms: bool = False  # whether the value needs merged response-time histograms


METRICS: dict[str, Metric] = {
    "requests": Metric("requests", "", "traffic"),
    "requests_per_minute": Metric("requests per minute", "/min", "traffic"),
    "error_rate": Metric("error rate", "%", "errors"),
    "requests_4xx": Metric("client errors (4xx)", "", "errors"),
    "requests_5xx": Metric("server errors (5xx)", "", "errors"),
    "p50": Metric("p50 response time", "ms", "performance", histograms=True),
    "p75": Metric("p75 response time", "ms", "performance", histograms=True),
    "p95": Metric("p95 response time", "ms", "performance", histograms=True),
    "p99": Metric("p99 response time", "ms", "performance", histograms=True),
    "apdex": Metric("Apdex", "", "performance", histograms=True),
    "unique_consumers": Metric("unique consumers", "", "consumers"),
    "bytes_sent": Metric("bytes sent", "B", "data-transferred"),
    "bytes_received": Metric("bytes received", "B", "data-transferred"),
    "instance_cpu": Metric("instance CPU", "%", "instances", scoped=False),
    "instance_memory": Metric("instance memory", "MB", "instances", scoped=False),
}

# Statistics that mean nothing without requests: no value (never breaching) rather than 0.
_NEEDS_REQUESTS = {"error_rate", "p50", "p75", "p95", "p99", "apdex"}


def window_range(now: float, window_seconds: int) -> TimeRange:
    """The last `window_seconds` up to and including the current minute, in whole minutes."""
    end = (int(now) // MINUTE + 1) * MINUTE
    return TimeRange(end - window_seconds, end, "minute")


def scope_filters(env: str, scope: str | None, scope_value: str | None) -> Filters:
    """The analytics filters of a rule's env and scope (an endpoint is spelled "METHOD /path")."""
    if scope == "consumer":
        return Filters(env=env, consumer=scope_value)
    if scope == "group":
        return Filters(env=env, group=scope_value)
    if scope == "endpoint" and scope_value:
        method, _, path = scope_value.partition(" ")
        return Filters(env=env, method=method, path=path.strip())
    return Filters(env=env)


def _epoch(iso_text: str) -> float:
    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


def _instance_value(conn: sa.Connection, resolved: Selection, metric: str, since: float) -> float | None:
    # Instances that synced within the window; the busiest one decides (the one that needs attention).
    recent = [
        i
        for i in instances.list_instances(conn, resolved)
        if i["last_sync_at"] is not None and _epoch(i["last_sync_at"]) >= since
    ]
    if metric == "instance_cpu":
        values = [float(i["cpu_percent"]) for i in recent if i["cpu_percent"] is not None]
    else:
        values = [i["memory_rss"] / 1_000_000 for i in recent if i["memory_rss"] is not None]
    return max(values) if values else None


def measure(
    conn: sa.Connection,
    app_id: int,
    metric: str,
    flt: Filters,
    now: float,
    window_seconds: int,
    apdex_t: int,
) -> float | None:
    """The metric's value over the window ending now; None when there is nothing to measure.

    apdex_t is the hub's T, for apps without their own; expected errors count as successes.
    """
    resolved = resolve(conn, app_id, flt)
    tr = window_range(now, window_seconds)
    if metric in ("instance_cpu", "instance_memory"):
        return _instance_value(conn, resolved, metric, now - window_seconds)
    if metric == "unique_consumers":
        per_consumer = metrics.tallies(conn, resolved, tr, "consumer", with_histograms=False)
        return float(sum(1 for key, t in per_consumer.items() if key != NO_ID and t.requests > 0))
    spec = METRICS[metric]
    tally = metrics.total(metrics.tallies(conn, resolved, tr, "all", with_histograms=spec.histograms))
    # The dashboard's T: the app's own when set (endpoints with their own T keep it, inside the tally).
    stats = tally.stats(resolved.rules.app_apdex_t or apdex_t)
    if metric in _NEEDS_REQUESTS and not tally.requests:
        return None
    if metric == "requests_per_minute":
        return tally.requests / (window_seconds / MINUTE)
    if metric == "error_rate":
        return float(stats["error_rate"]) * 100
    value = stats[metric]
    return float(value) if value is not None else None
