"""GET /apps/{id}/traffic: numbers equal those computed directly from the individual requests."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.metric_rows import MetricWriter, Req, assert_stats

T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())  # a Friday, 00:00 UTC
ROUTES = [
    ("GET", "/items/<int:item_id>"),
    ("POST", "/items"),
    ("GET", "/health"),
    ("DELETE", "/items/<int:item_id>"),
]
CONSUMERS = {"alice": "admins", "bob": "admins", "carol": "customers", "dave": None}
STATUSES = [200, 200, 200, 201, 204, 301, 400, 404, 404, 422, 500, 503]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_requests(n: int, start: int, span: int, seed: int = 1) -> list[Any]:
    rnd = random.Random(seed)
    reqs = []
    for _ in range(n):
        method, path = rnd.choice(ROUTES)
        reqs.append(
            Req(
                time=start + rnd.random() * span,
                method=method,
                path=path,
                status=rnd.choice(STATUSES),
                consumer=rnd.choice([*CONSUMERS, None]),
                response_time_ms=rnd.choice([rnd.uniform(0, 120), rnd.uniform(0, 3000)]),
                request_size=rnd.choice([None, rnd.randrange(0, 5000)]),
                response_size=rnd.choice([None, rnd.randrange(0, 200_000)]),
                env=rnd.choice(["prod", "prod", "dev"]),
            )
        )
    return reqs


def register_consumers(writer: Any) -> None:
    for identifier, group in CONSUMERS.items():
        writer.consumer(identifier, group=group)


def test_totals_and_minute_series_equal_the_requests(api: Any) -> None:
    register_consumers(api.writer)
    reqs = make_requests(400, T0 + 600, 3600)
    api.writer.write(reqs, copies=2)
    body = api.get("/traffic", start=iso(T0), end=iso(T0 + 2 * 3600), interval="minute")
    assert (body["start"], body["end"], body["interval"], body["env"]) == (
        iso(T0),
        iso(T0 + 7200),
        "minute",
        None,
    )
    assert_stats(body["totals"], reqs)
    assert len(body["series"]) == 120
    for i, point in enumerate(body["series"]):
        bucket = T0 + 60 * i
        assert point["time"] == iso(bucket)
        assert_stats(point, [r for r in reqs if bucket <= r.time < bucket + 60])
    assert body["series"][0]["requests"] == 0 and body["series"][0]["p50"] is None  # zero-filled


FILTERS: list[tuple[dict[str, str], Any]] = [
    ({"env": "dev"}, lambda r: r.env == "dev"),
    ({"env": "staging"}, lambda r: False),
    ({"consumer": "alice"}, lambda r: r.consumer == "alice"),
    ({"consumer": "nobody"}, lambda r: False),
    ({"group": "admins"}, lambda r: r.consumer in ("alice", "bob")),
    ({"group": "admins", "consumer": "carol"}, lambda r: False),
    ({"method": "get"}, lambda r: r.method == "GET"),
    ({"path": "/items/{id}"}, lambda r: r.path == "/items/<int:item_id>"),
    (
        {"path": "/items/:id", "method": "Delete"},
        lambda r: r.method == "DELETE" and r.path.startswith("/items/<"),
    ),
    ({"status": "404"}, lambda r: r.status == 404),
    ({"status": "4xx"}, lambda r: 400 <= r.status < 500),
    ({"status": "5XX"}, lambda r: r.status >= 500),
    (
        {"env": "prod", "group": "customers", "method": "POST", "status": "2xx"},
        lambda r: r.env == "prod" and r.consumer == "carol" and r.method == "POST" and r.status < 300,
    ),
]


def test_every_filter(api: Any) -> None:
    register_consumers(api.writer)
    reqs = make_requests(500, T0, 3 * 3600, seed=2)
    api.writer.write(reqs)
    for params, keep in FILTERS:
        body = api.get("/traffic", start=T0, end=T0 + 3 * 3600, interval="hour", **params)
        expected = [r for r in reqs if keep(r)]
        assert_stats(body["totals"], expected)
        for i, point in enumerate(body["series"]):
            assert_stats(point, [r for r in expected if T0 + 3600 * i <= r.time < T0 + 3600 * (i + 1)])


@pytest.mark.parametrize("interval", ["hour", "day"])
def test_hour_and_day_are_exact_whether_minutes_are_rolled_or_not(api: Any, db: Any, interval: str) -> None:
    """One app holds unrolled minutes, one rolled minutes + hour/day rows, one a mix; all answer alike."""
    reqs = make_requests(600, T0 + 1800, 3 * 86400, seed=3)
    rolled_app = MetricWriter(db, _new_app(db, "Rolled"))
    mixed_app = MetricWriter(db, _new_app(db, "Mixed"))
    for writer in (api.writer, rolled_app, mixed_app):
        register_consumers(writer)
    api.writer.write(reqs)
    rolled_app.write(reqs, rolled=True, copies=3)
    mixed_app.write([r for r in reqs if r.time < T0 + 86400 + 1234], rolled=True)
    mixed_app.write([r for r in reqs if r.time >= T0 + 86400 + 1234])
    step = 3600 if interval == "hour" else 86400
    params = {"start": iso(T0), "end": iso(T0 + 4 * 86400), "interval": interval, "apdex_t": 200}
    answers = [
        {**api.client.get(f"/api/v1/apps/{app_id}/traffic", params=params).json(), "app_id": None}
        for app_id in (api.app_id, rolled_app.app_id, mixed_app.app_id)
    ]
    assert answers[0] == answers[1] == answers[2]
    body = answers[0]
    assert_stats(body["totals"], reqs, apdex_t=200)
    assert len(body["series"]) == 4 * 86400 // step
    for i, point in enumerate(body["series"]):
        bucket = T0 + step * i
        assert point["time"] == iso(bucket)
        assert_stats(point, [r for r in reqs if bucket <= r.time < bucket + step], apdex_t=200)
    # Filtered queries read level 1/2 hour/day rows plus unrolled minutes just the same.
    filtered = [
        api.client.get(
            f"/api/v1/apps/{app_id}/traffic", params={**params, "group": "admins", "path": "/items/{x}"}
        ).json()["totals"]
        for app_id in (api.app_id, rolled_app.app_id, mixed_app.app_id)
    ]
    assert filtered[0] == filtered[1] == filtered[2]
    admins_items = [r for r in reqs if r.consumer in ("alice", "bob") and r.path.startswith("/items/<")]
    assert_stats(filtered[0], admins_items, apdex_t=200)


def _new_app(db: Any, name: str) -> int:
    from tallyhub.storage import apps as app_store

    return app_store.create_app(db, name, ("prod", "dev")).id


def test_range_is_widened_to_whole_buckets_and_defaults_apply(api: Any) -> None:
    reqs = [Req(T0 + 3600 + 5, "GET", "/a", 200, response_time_ms=12)]
    api.writer.write(reqs)
    body = api.get("/traffic", start=iso(T0 + 3600 + 30), end=T0 + 3 * 3600 - 1, interval="hour")
    assert (body["start"], body["end"]) == (iso(T0 + 3600), iso(T0 + 3 * 3600))
    assert [p["requests"] for p in body["series"]] == [1, 0]
    # Default interval: minute up to 6 h, hour up to 14 days, else day.
    assert api.get("/traffic", start=T0, end=T0 + 6 * 3600)["interval"] == "minute"
    assert api.get("/traffic", start=T0, end=T0 + 14 * 86400)["interval"] == "hour"
    assert api.get("/traffic", start=T0, end=T0 + 15 * 86400)["interval"] == "day"
    # Default range: the last 24 hours, in hours.
    default = api.get("/traffic")
    assert default["interval"] == "hour" and len(default["series"]) in (24, 25)
    assert default["totals"]["requests"] == 0 and default["totals"]["error_rate"] == 0.0


def test_apdex_threshold_parameter(api: Any) -> None:
    reqs = [Req(T0 + i, "GET", "/a", 200, response_time_ms=ms) for i, ms in enumerate([5, 95, 150, 400, 900])]
    api.writer.write(reqs)
    for t in (100, 500, 50):
        body = api.get("/traffic", start=T0, end=T0 + 60, apdex_t=t)
        assert_stats(body["totals"], reqs, apdex_t=t)
    assert api.get("/traffic", start=T0, end=T0 + 60, apdex_t=100)["totals"]["apdex"] == pytest.approx(0.5)


@pytest.mark.parametrize("interval", ["hour", "day"])
def test_rows_written_after_the_rollup_for_rolled_minutes_are_counted_once(api: Any, interval: str) -> None:
    """Late rows (syncs dated before the rollup's mark) count as unrolled minutes until the next rollup
    adds them to their hours: the answers are the same before it, after it, and as the requests say."""
    from tallyhub.metrics import rollup
    from tallyhub.settings import load_settings

    settings = load_settings({}, environ={})
    reqs = make_requests(400, T0 + 1800, 2 * 86400, seed=7)
    late = make_requests(200, T0 + 1800, 86400, seed=8)  # minutes the first rollup has passed
    open_ = make_requests(50, T0 + 2 * 86400 + 1800, 600, seed=9)  # after the mark
    register_consumers(api.writer)
    api.writer.write(reqs)
    assert rollup.run(api.writer.db, settings, T0 + 2 * 86400 + 1800) > 0
    api.writer.write(late)
    api.writer.write(open_)
    everything = reqs + late + open_
    step = 3600 if interval == "hour" else 86400
    params = {"start": iso(T0), "end": iso(T0 + 3 * 86400), "interval": interval}

    def answers() -> list[Any]:
        filtered = {**params, "group": "admins", "path": "/items/{x}"}
        return [api.get("/traffic", **params), api.get("/traffic", **filtered)["totals"]]

    before = answers()
    assert_stats(before[0]["totals"], everything)
    for i, point in enumerate(before[0]["series"]):
        bucket = T0 + step * i
        assert_stats(point, [r for r in everything if bucket <= r.time < bucket + step])
    assert rollup.run(api.writer.db, settings, T0 + 3 * 86400) > 0  # the late rows, by id, and the rest
    assert answers() == before
