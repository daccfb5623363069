"""The metrics an alert rule can watch, and their value over a rule's window, from tallyhub.analytics.

Values come from the same code the dashboard and the read API use (metrics.tallies, Tally.stats,
metrics.resources), so a rule and the page its message links to agree.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from tallyhub.analytics.query import Filters
from tallyhub.analytics.selection import resolve
from tallyhub.metrics import reads as metrics
from tallyhub.metrics import resources
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.storage.tables import MINUTE, NO_ID


@dataclasses.dataclass(frozen=True)
class Metric:
    label: str
    unit: str  # shown after values: "ms", "%", "MB", … ("" for counts and Apdex)
    page: str  # the dashboard page a message links to
    scoped: bool = True  # whether a consumer, group or endpoint scope applies
    histograms: bool = False  # whether the value needs merged response-time histograms


# Apitally's 18 alert metrics (docs: "Available metrics"), in its order; the form and the API accept these.
METRICS: dict[str, Metric] = {
    "requests_per_minute": Metric("requests per minute", "/min", "traffic"),
    "requests": Metric("total requests", "", "traffic"),
    "bytes_total": Metric("data transferred (requests and responses)", "B", "data-transferred"),
    "bytes_sent": Metric("data sent (responses)", "B", "data-transferred"),
    "bytes_received": Metric("data received (requests)", "B", "data-transferred"),
    "unique_consumers": Metric("unique consumers", "", "consumers"),
    "errors": Metric("errors (client and server errors)", "", "errors"),
    "requests_4xx": Metric("client errors (4xx)", "", "errors"),
    "requests_5xx": Metric("server errors (5xx)", "", "errors"),
    "error_rate": Metric("error rate", "%", "errors"),
    "p50": Metric("p50 response time", "ms", "performance", histograms=True),
    "p75": Metric("p75 response time", "ms", "performance", histograms=True),
    "p95": Metric("p95 response time", "ms", "performance", histograms=True),
    "apdex": Metric("Apdex score", "", "performance", histograms=True),
    "cpu_avg": Metric("CPU utilization (avg across instances)", "%", "instances", scoped=False),
    "cpu_max": Metric("CPU utilization (max across instances)", "%", "instances", scoped=False),
    "memory_avg": Metric("memory usage (avg across instances)", "MB", "instances", scoped=False),
    "memory_max": Metric("memory usage (max across instances)", "MB", "instances", scoped=False),
}
# Metrics no longer offered that rules made before may still watch: they are checked and shown as
# before, but a rule saved again must pick one of METRICS (Apitally has no p99 alert).
RETIRED: dict[str, Metric] = {
    "p99": Metric("p99 response time (no longer offered)", "ms", "performance", histograms=True),
}
KNOWN: dict[str, Metric] = {**METRICS, **RETIRED}

# Statistics that mean nothing without requests: no value (never breaching) rather than 0.
_NEEDS_REQUESTS = {"error_rate", "p50", "p75", "p95", "p99", "apdex"}
_RESOURCES = {"cpu_avg", "cpu_max", "memory_avg", "memory_max"}


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


def _resource_value(conn: sa.Connection, resolved: Selection, metric: str, tr: TimeRange) -> float | None:
    # Every instance's per-minute samples in the window (metrics.resources): their mean or their max.
    spread = resources.Resources()
    for found in resources.read(conn, resolved.env_ids, tr.start, tr.end, MINUTE).values():
        spread.cpu.add(found.cpu.low, found.cpu.high, found.cpu.total, found.cpu.count)
        spread.memory.add(found.memory.low, found.memory.high, found.memory.total, found.memory.count)
    figure = spread.cpu if metric.startswith("cpu") else spread.memory
    value = figure.mean if metric.endswith("_avg") else figure.high
    if value is None:
        return None
    return value if metric.startswith("cpu") else value / 1_000_000  # memory in MB


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
    if metric in _RESOURCES:
        return _resource_value(conn, resolved, metric, tr)
    if metric == "unique_consumers":
        per_consumer = metrics.tallies(conn, resolved, tr, "consumer", with_histograms=False)
        return float(sum(1 for key, t in per_consumer.items() if key != NO_ID and t.requests > 0))
    spec = KNOWN[metric]
    tally = metrics.total(metrics.tallies(conn, resolved, tr, "all", with_histograms=spec.histograms))
    # The dashboard's T: the app's own when set (endpoints with their own T keep it, inside the tally).
    stats = tally.stats(resolved.rules.app_apdex_t or apdex_t)
    if metric in _NEEDS_REQUESTS and not tally.requests:
        return None
    if metric == "requests_per_minute":
        return tally.requests / (window_seconds / MINUTE)
    if metric == "error_rate":
        return float(stats["error_rate"]) * 100
    if metric == "errors":
        return float(stats["requests_4xx"] + stats["requests_5xx"])
    if metric == "bytes_total":
        return float(stats["bytes_sent"] + stats["bytes_received"])
    value = stats[metric]
    return float(value) if value is not None else None
