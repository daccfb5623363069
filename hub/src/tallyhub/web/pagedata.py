"""What each data page shows, computed by tallyhub.analytics (the read API's functions) for the URL filters.

Each `*_data` function returns the template context of one page from the request's Scope (its query,
resolved once). Charts are {times, series: [{label, values}]} for charts.js.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tallyhub.analytics import consumers, distributions, endpoints, errors, instances, resources, traffic
from tallyhub.analytics.paging import Page
from tallyhub.analytics.query import parse_time
from tallyhub.analytics.scope import Scope
from tallyhub.storage import endpoint_settings
from tallyhub.storage.endpoint_settings import EndpointSettings
from tallyhub.storage.tables import DAY
from tallyhub.web.paging import Pager, requested_page

OK_COLOR, WARN_COLOR, ERROR_COLOR = "#16a34a", "#d97706", "#dc2626"
STATUS_LINES = (
    ("2xx/3xx", "requests_ok", OK_COLOR),
    ("4xx", "requests_4xx", WARN_COLOR),
    ("5xx", "requests_5xx", ERROR_COLOR),
)
PERCENTILE_LINES = (
    ("p50", "p50", "#2563eb"),
    ("p75", "p75", "#0891b2"),
    ("p95", "p95", WARN_COLOR),
    ("p99", "p99", ERROR_COLOR),
)
BYTES_LINES = (("Received", "bytes_received", "#2563eb"), ("Sent", "bytes_sent", "#7c3aed"))
CPU_LINES = (("Min", "cpu_min", OK_COLOR), ("Avg", "cpu_avg", "#2563eb"), ("Max", "cpu_max", ERROR_COLOR))
MEMORY_LINES = (
    ("Min", "memory_min", OK_COLOR),
    ("Avg", "memory_avg", "#2563eb"),
    ("Max", "memory_max", ERROR_COLOR),
)
RATE_LINES = (("Requests per minute", "requests_per_minute", "#7c3aed"),)


def chart(
    series: Sequence[dict[str, Any]], lines: Sequence[tuple[str, str, str]], kind: str = "lines"
) -> dict[str, Any]:
    """Chart data from a traffic series: `lines` are (label, field, colour); None values stay gaps.

    `kind` is "lines" or "stacked" (bars stacked by line, for counts). A chart over a range without
    requests is `empty`: the page says so instead of drawing a flat line at zero.
    """
    values = [[point[field] for point in series] for _, field, _ in lines]
    counted = [[point["requests"] for point in series]] if series and "requests" in series[0] else values
    return {
        "kind": kind,
        "empty": not any(v for column in counted for v in column),
        "times": [parse_time("time", point["time"]) for point in series],
        "series": [
            {"label": label, "values": column, "color": color}
            for (label, _, color), column in zip(lines, values, strict=True)
        ],
    }


def _with_classes(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for point in series:
        point["requests_ok"] = point["requests"] - point["requests_4xx"] - point["requests_5xx"]
        point["error_percent"] = round(point["error_rate"] * 100, 2)
    return series


def _status_chart(codes: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars per status code (analytics.errors.status_codes), coloured by class: one series per class."""
    classes = (("2xx/3xx", 100, OK_COLOR), ("4xx", 400, WARN_COLOR), ("5xx", 500, ERROR_COLOR))
    series = []
    for label, low, color in classes:
        high = 399 if low == 100 else low + 99
        values = [c["count"] if low <= c["status_code"] <= high else None for c in codes]
        if any(v is not None for v in values):
            series.append({"label": label, "values": values, "color": color})
    return {
        "kind": "categories",
        "empty": not codes,
        "times": list(range(len(codes))),
        "labels": [str(c["status_code"]) for c in codes],
        "series": series,
    }


TOP_CONSUMERS = 10


def _top_consumers(scope: Scope) -> list[dict[str, Any]]:
    """The consumers with the most requests for the scope's filters (an endpoint's, on its page)."""
    page = Page(TOP_CONSUMERS, 0, "requests", True)
    listed, _ = consumers.list_consumers(
        scope.conn, scope.app_id, scope.resolved, scope.tr, scope.apdex_t, page, with_histograms=False
    )
    return [c for c in listed if c["requests"]]


def traffic_data(scope: Scope) -> dict[str, Any]:
    result, _ = traffic.traffic_and_total(
        scope.conn, scope.resolved, scope.tr, scope.apdex_t, from_first_data=True
    )
    series = _with_classes(result["series"])
    totals = result["totals"]
    listed = endpoints.list_endpoints(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
    return {
        "totals": totals,
        "per_minute": totals["requests"] / scope.minutes,
        "requests_chart": chart(series, STATUS_LINES, "stacked"),
        "error_chart": chart(series, [("Error rate", "error_percent", ERROR_COLOR)]),
        "bytes_chart": chart(series, BYTES_LINES),
        "endpoints": _busiest(listed),
    }


def _busiest(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Endpoints with requests, busiest first."""
    return sorted((e for e in listed if e["requests"]), key=lambda e: (-e["requests"], e["path_key"]))


def errors_data(scope: Scope) -> dict[str, Any]:
    result, _ = traffic.traffic_and_total(
        scope.conn, scope.resolved, scope.tr, scope.apdex_t, from_first_data=True
    )
    codes = errors.status_codes(scope.conn, scope.resolved, scope.tr, minimum=400)
    listed = endpoints.list_endpoints(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
    found = errors.list_errors(scope.conn, scope.resolved, *scope.minute_range)
    fields: dict[str, dict[str, Any]] = {}
    for error in found["validation_errors"]:
        field = ".".join(error["loc"]) or "(body)"
        entry = fields.setdefault(field, {"field": field, "count": 0, "messages": set(), "endpoints": set()})
        entry["count"] += error["count"]
        entry["messages"].add(error["msg"])
        entry["endpoints"].add(f"{error['method']} {error['path']}")
    by_field = sorted(fields.values(), key=lambda f: (-f["count"], f["field"]))
    page = requested_page(scope.params, errors.SORTS, "count", ERROR_DESC_FIRST)
    shown = errors.sorted_page(found["server_errors"], page)
    return {
        "totals": result["totals"],
        "status_codes": codes,
        "status_chart": _status_chart(codes),
        "errors_chart": chart(
            result["series"],
            [("4xx", "requests_4xx", WARN_COLOR), ("5xx", "requests_5xx", ERROR_COLOR)],
            "stacked",
        ),
        "endpoints": sorted(
            (e for e in listed if e["requests_4xx"] or e["requests_5xx"]),
            key=lambda e: (-(e["requests_4xx"] + e["requests_5xx"]), e["path_key"]),
        ),
        "server_errors": shown,
        "pager": Pager(page, len(found["server_errors"]), len(shown), "count", ERROR_DESC_FIRST),
        "validation_errors": found["validation_errors"],
        "by_field": by_field,
    }


def performance_data(scope: Scope) -> dict[str, Any]:
    result, total = traffic.traffic_and_total(
        scope.conn, scope.resolved, scope.tr, scope.apdex_t, from_first_data=True
    )
    listed = endpoints.list_endpoints(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
    return {
        "totals": result["totals"],
        "apdex_t": scope.apdex_t,
        "percentiles_chart": chart(result["series"], PERCENTILE_LINES),
        "apdex_chart": chart(result["series"], [("Apdex", "apdex", OK_COLOR)]),
        "histogram": distributions.distributions(total)["response_times"],
        "slowest": sorted((e for e in listed if e["p95"] is not None), key=lambda e: -e["p95"])[:10],
    }


def data_transferred_data(scope: Scope) -> dict[str, Any]:
    result, total = traffic.traffic_and_total(
        scope.conn, scope.resolved, scope.tr, scope.apdex_t, size_histograms=True, from_first_data=True
    )
    shapes = distributions.distributions(total)
    return {
        "totals": result["totals"],
        "bytes_chart": chart(result["series"], BYTES_LINES),
        "request_sizes": shapes["request_sizes"],
        "response_sizes": shapes["response_sizes"],
    }


ENDPOINT_DESC_FIRST = ("requests", "errors", "p95")
ERROR_DESC_FIRST = errors.SORTS


def endpoints_data(scope: Scope) -> dict[str, Any]:
    """A page of the endpoints (at most the app's cap of them, sorted in memory)."""
    page = requested_page(scope.params, endpoints.SORTS, "path", ENDPOINT_DESC_FIRST)
    every = endpoints.list_endpoints(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
    show_hidden = scope.params.get("hidden") == "show"
    listed = endpoints.shown(every, show_hidden)
    shown = endpoints.sorted_page(listed, page)
    return {
        "endpoints": shown,
        "pager": Pager(page, len(listed), len(shown), "path", ENDPOINT_DESC_FIRST),
        "hidden_count": sum(1 for e in every if e["hidden"]),
        "show_hidden": show_hidden,
    }


def endpoint_detail_data(scope: Scope) -> dict[str, Any]:
    """One endpoint (the method and path filters): its traffic, percentiles, histogram, status codes,
    top consumers and errors."""
    result, total = traffic.traffic_and_total(
        scope.conn, scope.resolved, scope.tr, scope.apdex_t, from_first_data=True
    )
    series = _with_classes(result["series"])
    found = errors.list_errors(scope.conn, scope.resolved, *scope.minute_range)
    codes = errors.status_codes(scope.conn, scope.resolved, scope.tr)
    matching = endpoints.list_endpoints(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
    configured = endpoint_settings.of_app(scope.conn, scope.app_id)
    return {
        "status_codes": codes,
        "status_chart": _status_chart(codes),
        "top_consumers": _top_consumers(scope),
        "totals": result["totals"],
        "apdex_t": scope.apdex_t,
        "matching": matching,
        # Each matching endpoint's settings (the defaults when none were set), in its order.
        "endpoint_settings": [
            configured.get((e["method"], e["path_key"])) or EndpointSettings(e["method"], e["path_key"])
            for e in matching
        ],
        "requests_chart": chart(series, STATUS_LINES, "stacked"),
        "percentiles_chart": chart(series, PERCENTILE_LINES),
        "histogram": distributions.distributions(total)["response_times"],
        "server_errors": found["server_errors"],
        "validation_errors": found["validation_errors"],
    }


SPARKLINE_POINTS = 42


def downsample(values: list[int], points: int = SPARKLINE_POINTS) -> list[int]:
    """At most `points` values, each the sum of a run of adjacent ones (a sparkline needs no more)."""
    if len(values) <= points:
        return values
    size = -(-len(values) // points)
    return [sum(values[i : i + size]) for i in range(0, len(values), size)]


CONSUMER_DESC_FIRST = ("requests", "errors", "first_seen", "last_seen")
GROUP_DESC_FIRST = ("requests", "errors", "consumers")


def consumers_data(scope: Scope) -> dict[str, Any]:
    """One page of consumers (sorted in SQL), their sparklines, and the activity chart counted in SQL."""
    page = requested_page(scope.params, consumers.CONSUMER_SORTS, "requests", CONSUMER_DESC_FIRST)
    listed, total = consumers.list_consumers(
        scope.conn, scope.app_id, scope.resolved, scope.tr, scope.apdex_t, page, with_histograms=False
    )
    # Per-consumer series read the biggest rows (per consumer and status): by day beyond 24 h.
    by_day = scope.query.end - scope.query.start > DAY
    lines = consumers.sparklines(scope.conn, scope.resolved, scope.tr, [c["id"] for c in listed], by_day)
    for consumer in listed:
        consumer["sparkline"] = downsample(lines.get(consumer["id"], []))
    activity = consumers.activity(scope.conn, scope.resolved, scope.tr, by_day)
    return {
        "consumers": listed,
        "pager": Pager(page, total, len(listed), "requests", CONSUMER_DESC_FIRST),
        "activity_chart": chart(
            activity, [("New", "new", OK_COLOR), ("Returning", "returning", "#2563eb")], "stacked"
        ),
    }


def groups_data(scope: Scope) -> dict[str, Any]:
    page = requested_page(scope.params, consumers.GROUP_SORTS, "requests", GROUP_DESC_FIRST)
    listed, total = consumers.list_groups(scope.conn, scope.app_id, scope.resolved, scope.tr, page)
    return {"groups": listed, "pager": Pager(page, total, len(listed), "requests", GROUP_DESC_FIRST)}


def consumer_detail_data(scope: Scope, identifier: str) -> dict[str, Any] | None:
    """One consumer (the consumer filter): who it is, its traffic and its errors; None if unknown."""
    found = consumers.get_consumer(scope.conn, scope.app_id, identifier)
    if found is None:
        return None
    result, _ = traffic.traffic_and_total(
        scope.conn, scope.resolved, scope.tr, scope.apdex_t, from_first_data=True
    )
    listed = endpoints.list_endpoints(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
    return {
        "consumer": found,
        "group_names": consumers.group_names(scope.conn, scope.app_id),
        "totals": result["totals"],
        "requests_chart": chart(_with_classes(result["series"]), STATUS_LINES, "stacked"),
        "endpoints": _busiest(listed),
        "server_errors": errors.list_errors(scope.conn, scope.resolved, *scope.minute_range)["server_errors"],
    }


def instances_data(scope: Scope) -> dict[str, Any]:
    active = (scope.query.start, scope.query.end)
    charts = [
        {
            "env": env["env"],
            # Empty when no instance reported the figure in the range (not when there were no requests).
            "cpu": {
                **chart(env["series"], CPU_LINES),
                "empty": all(p["cpu_avg"] is None for p in env["series"]),
            },
            "memory": {
                **chart(env["series"], MEMORY_LINES),
                "empty": all(p["memory_avg"] is None for p in env["series"]),
            },
            "rate": chart(env["series"], RATE_LINES),
        }
        for env in resources.resource_series(scope.conn, scope.resolved, scope.tr)
    ]
    return {
        "instances": instances.list_instances(scope.conn, scope.resolved, active),
        "resource_charts": charts,
    }
