"""Analytics added for the dashboard: display histograms, per-consumer series, new vs. returning consumers.

Each is checked against values computed directly from the requests written (both engines).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from tallyhub.analytics import consumers, distributions, query, traffic
from tallyhub.analytics.selection import resolve
from tallyhub.analytics.times import iso
from tallyhub.metrics import reads as metrics
from tallyhub.metrics.tally import Tally
from tallyhub.storage.tables import NO_ID
from tallyhub.storage.tables import consumers as consumer_rows

from tests.support.metric_rows import Req

T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
HOUR = 3600


def _scope(api: Any, start: float, end: float, interval: str, **wanted: str) -> tuple[Any, Any, Any]:
    conn_cm = api.writer.db.read()
    conn = conn_cm.__enter__()
    resolved = resolve(conn, api.app_id, query.Filters(**wanted))
    tr = query.parse({"start": str(start), "end": str(end), "interval": interval}, end, apdex_t=500).range
    return conn_cm, conn, (resolved, tr)


def test_rebin_keeps_every_count_in_equal_bins() -> None:
    assert distributions.rebin({}, 10) == []
    assert distributions.rebin({0: 2, 20: 3}, 10) == [
        {"low": 0, "high": 10, "count": 2},
        {"low": 10, "high": 20, "count": 0},
        {"low": 20, "high": 30, "count": 3},
    ]
    # 1000 ms in 10 ms bins -> at most 30 bins of 40 ms (a multiple of 10), counts conserved.
    hist = {k: 1 for k in range(0, 1000, 10)}
    bins = distributions.rebin(hist, 10)
    assert len(bins) <= distributions.MAX_BINS
    assert {b["high"] - b["low"] for b in bins} == {40}
    assert sum(b["count"] for b in bins) == 100
    assert bins[0] == {"low": 0, "high": 40, "count": 4}
    sizes = distributions.distributions(Tally(request_sizes={0: 1, 2: 5}))["request_sizes"]
    assert sizes == [
        {"low": 0, "high": 1000, "count": 1},
        {"low": 1000, "high": 2000, "count": 0},
        {"low": 2000, "high": 3000, "count": 5},
    ]


def test_distributions_match_the_requests(api: Any) -> None:
    times = [5, 15, 15, 250, 1234]
    reqs = [
        Req(T0 + i, "GET", "/a", 200, response_time_ms=ms, response_size=ms * 10)
        for i, ms in enumerate(times)
    ]
    api.writer.write(reqs)
    cm, conn, (resolved, tr) = _scope(api, T0, T0 + HOUR, "minute")
    try:
        _, total = traffic.traffic_and_total(conn, resolved, tr, 500, size_histograms=True)
    finally:
        cm.__exit__(None, None, None)
    shapes = distributions.distributions(total)
    for kind, values, scale in (("response_times", times, 1), ("response_sizes", [t * 10 for t in times], 1)):
        bins = shapes[kind]
        for value in values:
            # Every request lands in the bin whose [low, high) holds its value (sizes binned per KB).
            low = value if kind == "response_times" else value // 1000 * 1000
            assert any(b["low"] <= low * scale < b["high"] and b["count"] for b in bins), (kind, value)
        assert sum(b["count"] for b in bins) == len(values)
    assert shapes["request_sizes"] == []  # no request size was known


def _sparklines(conn: Any, app_id: int, resolved: Any, tr: Any) -> dict[str, list[int]]:
    """consumers.sparklines for every consumer of the app, by identifier (pages ask for theirs by id)."""
    ids = dict(
        conn.execute(
            sa.select(consumer_rows.c.id, consumer_rows.c.identifier).where(consumer_rows.c.app_id == app_id)
        ).all()
    )
    return {ids[cid]: line for cid, line in consumers.sparklines(conn, resolved, tr, list(ids)).items()}


def test_consumer_counts_sparklines_and_activity(api: Any) -> None:
    # alice: hours 0 and 2 (new in hour 0); bob: first seen before the range, active in hour 1;
    # carol: new in hour 2 with two requests; anonymous requests count for nobody.
    api.writer.write([Req(T0 - 5 * HOUR, "GET", "/a", 200, consumer="bob")])
    reqs = [
        Req(T0 + 10, "GET", "/a", 200, consumer="alice"),
        Req(T0 + 2 * HOUR + 5, "GET", "/a", 500, consumer="alice"),
        Req(T0 + HOUR + 1, "GET", "/a", 200, consumer="bob"),
        Req(T0 + 2 * HOUR + 1, "GET", "/a", 200, consumer="carol"),
        Req(T0 + 2 * HOUR + 2, "GET", "/b", 404, consumer="carol"),
        Req(T0 + 30, "GET", "/a", 200),
    ]
    api.writer.write(reqs)
    cm, conn, (resolved, tr) = _scope(api, T0, T0 + 3 * HOUR, "hour")
    try:
        lines = _sparklines(conn, api.app_id, resolved, tr)
        activity = consumers.activity(conn, resolved, tr)
        counts = metrics.consumer_counts(conn, resolved, tr)
    finally:
        cm.__exit__(None, None, None)
    assert lines == {"alice": [1, 0, 1], "bob": [0, 1, 0], "carol": [0, 0, 2]}
    assert counts.pop(NO_ID) == {T0: 1}  # the anonymous request, under the "no consumer" id
    assert sum(sum(per.values()) for per in counts.values()) == 5
    assert [(a["new"], a["returning"]) for a in activity] == [(1, 0), (0, 1), (1, 1)]
    assert [a["time"] for a in activity] == [iso(T0 + i * HOUR) for i in range(3)]
    # Filters narrow them like every other query: only 5xx -> alice in hour 2, returning.
    cm, conn, (resolved, tr) = _scope(api, T0, T0 + 3 * HOUR, "hour", status="5xx")
    try:
        assert _sparklines(conn, api.app_id, resolved, tr) == {"alice": [0, 0, 1]}
        assert [(a["new"], a["returning"]) for a in consumers.activity(conn, resolved, tr)] == [
            (0, 0),
            (0, 0),
            (0, 1),
        ]
    finally:
        cm.__exit__(None, None, None)


def test_sparklines_read_rolled_hours_and_unrolled_minutes_once(api: Any) -> None:
    api.writer.write([Req(T0 + 60, "GET", "/a", 200, consumer="alice")], rolled=True)
    api.writer.write([Req(T0 + HOUR + 60, "GET", "/a", 200, consumer="alice")])
    cm, conn, (resolved, tr) = _scope(api, T0, T0 + 2 * HOUR, "hour")
    try:
        assert _sparklines(conn, api.app_id, resolved, tr) == {"alice": [1, 1]}
        assert consumers.group_names(conn, api.app_id) == []
    finally:
        cm.__exit__(None, None, None)


def test_totals_over_days_read_day_rows_and_edge_hours_exactly_once(api: Any) -> None:
    """An hourly range over several days: whole days from day rows, edge hours from hour rows."""
    start, end = T0 + 5 * HOUR, T0 + 3 * 24 * HOUR + 7 * HOUR
    inside = [T0 + 6 * HOUR, T0 + 30 * HOUR, T0 + 50 * HOUR, T0 + 3 * 24 * HOUR + 6 * HOUR]
    outside = [
        T0 + HOUR,
        T0 + 4 * HOUR + 59 * 60,
        T0 + 3 * 24 * HOUR + 7 * HOUR,
        T0 + 3 * 24 * HOUR + 20 * HOUR,
    ]
    api.writer.write([Req(t, "GET", "/a", 200, consumer="alice") for t in inside + outside], rolled=True)
    late = T0 + 3 * 24 * HOUR + 6 * HOUR + 1800  # not rolled yet
    api.writer.write([Req(late, "GET", "/a", 500, consumer="alice"), Req(late, "GET", "/b", 200)])
    params = {"start": str(start), "end": str(end)}
    [a, b] = api.get("/endpoints", **params)
    assert (a["path"], a["requests"], a["requests_5xx"], b["requests"]) == ("/a", 5, 1, 1)
    [alice] = api.get("/consumers", **params)
    assert (alice["requests"], alice["requests_5xx"]) == (5, 1)
    assert api.get("/traffic", **params)["totals"]["requests"] == 6
    cm, conn, (resolved, tr) = _scope(api, start, end, "hour")
    try:
        assert tr.interval == "hour"
        assert sum(metrics.tallies(conn, resolved, tr, "all")[0].response_times.values()) == 6
        assert metrics.total(metrics.tallies(conn, resolved, tr, "bucket")).requests == 6
        # A daily series of the same hourly range: edge days hold only their part inside the range.
        daily = metrics.consumer_bucket_tallies(conn, resolved, tr, by_day=True)
        alice = api.writer.consumer_ids["alice"]
        assert {b: t.requests for b, t in daily[alice].items()} == {
            T0: 1,
            T0 + 24 * HOUR: 1,
            T0 + 48 * HOUR: 1,
            T0 + 72 * HOUR: 2,
        }
        assert daily[alice][T0 + 72 * HOUR].requests_5xx == 1
        hourly = metrics.consumer_bucket_tallies(conn, resolved, tr)
        assert sum(t.requests for t in hourly[alice].values()) == 5 and len(hourly[alice]) == 4
    finally:
        cm.__exit__(None, None, None)
