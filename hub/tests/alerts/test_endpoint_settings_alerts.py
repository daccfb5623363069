"""Alert rules see endpoint settings: expected statuses are successes, Apdex takes each endpoint's T."""

from __future__ import annotations

from typing import Any

from tallyhub.alerts import rules as alert_rules
from tallyhub.storage import endpoint_settings
from tallyhub.storage.database import Database

from tests.support.alerts import T0, alert_world
from tests.support.metric_rows import Req


def _reqs() -> list[Req]:
    # 20 requests in the 5 minutes before T0: 8 OK, 6 "404 user not found" (expected), 4 x 500, 2 x 404
    # elsewhere. Response times: 40 ms (GET /users), 700 ms (POST /orders).
    reqs: list[Req] = []
    for i in range(20):
        at = T0 - 290 + i * 10
        if i < 8:
            reqs.append(Req(at, "GET", "/users/{id}", 200, response_time_ms=40))
        elif i < 14:
            reqs.append(Req(at, "GET", "/users/{id}", 404, response_time_ms=40))
        elif i < 18:
            reqs.append(Req(at, "POST", "/orders", 500, response_time_ms=700))
        else:
            reqs.append(Req(at, "POST", "/orders", 404, response_time_ms=700))
    return reqs


def _last_value(world: Any, rule_id: int) -> float | None:
    with world.db.read() as conn:
        rule = alert_rules.get(conn, rule_id)
    assert rule is not None
    return rule.last_value


def _rules(world: Any) -> dict[str, int]:
    common = {"window_seconds": 300, "interval_seconds": 60, "comparison": ">", "fire_after": 1}
    return {
        "error_rate": world.rule(name="errors", metric="error_rate", threshold=30, **common),
        "requests_4xx": world.rule(name="4xx", metric="requests_4xx", threshold=5, **common),
        "apdex": world.rule(name="apdex", metric="apdex", threshold=2, **common),
        "endpoint": world.rule(
            name="users",
            metric="error_rate",
            threshold=10,
            scope="endpoint",
            scope_value="GET /users/{id}",
            **common,
        ),
    }


def _window(reqs: list[Req], now: float) -> list[Req]:
    """The requests a 5-minute rule window ending at `now` holds (whole minutes, the current one too)."""
    end = (int(now) // 60 + 1) * 60
    return [r for r in reqs if end - 300 <= r.time < end]


def _by_hand(
    inside: list[Req], expected: set[tuple[str, int]], own_t: dict[str, int], app_t: int
) -> dict[str, float]:
    errors = [r for r in inside if r.status >= 400 and (r.path, r.status) not in expected]
    points = 0
    for r in inside:
        t = own_t.get(r.path, app_t)
        upper = int(r.response_time_ms // 10) * 10 + 10
        points += 2 if upper <= t else 1 if upper <= 4 * t else 0
    users = [r for r in inside if r.path == "/users/{id}"]
    user_errors = [r for r in errors if r.path == "/users/{id}"]
    return {
        "error_rate": len(errors) / len(inside) * 100,
        "requests_4xx": float(sum(1 for r in errors if r.status < 500)),
        "apdex": points / (2 * len(inside)),
        "endpoint": len(user_errors) / len(users) * 100,
    }


def test_expected_statuses_and_endpoint_t_change_what_rules_measure(db: Database) -> None:
    world = alert_world(db)
    reqs = _reqs()
    world.writer.write(reqs)
    rules = _rules(world)
    world.tick()
    # Before any setting: every 4xx/5xx is an error; T is the hub's 500 ms (700 ms tolerated).
    before = _by_hand(_window(reqs, T0), set(), {}, 500)
    for name, rule_id in rules.items():
        assert _last_value(world, rule_id) == before[name], name
    assert before["requests_4xx"] > 5 and before["endpoint"] > 10 and before["error_rate"] > 30
    assert [kind for kind, _ in world.events()] == ["fired", "fired", "fired"]  # not Apdex (> 2 never)

    with db.write() as conn:
        endpoint_settings.update(conn, world.app_id, "GET", "/users/<id>", {"expected_statuses": [404]})
        endpoint_settings.update(conn, world.app_id, "POST", "/orders", {"apdex_threshold_ms": 1000})
        endpoint_settings.set_app_apdex_t(conn, world.app_id, 30)
    world.tick(60)
    # GET /users at the app's T of 30 ms (40 ms tolerated); POST /orders at its own 1000 ms (satisfied).
    after = _by_hand(_window(reqs, T0 + 60), {("/users/{id}", 404)}, {"/orders": 1000}, 30)
    for name, rule_id in rules.items():
        assert _last_value(world, rule_id) == after[name], name
    assert after["endpoint"] == 0.0 and after["requests_4xx"] <= 5
    # The endpoint's error rule and the 4xx rule went back under their thresholds: resolved.
    assert [kind for kind, _ in world.events()].count("resolved") == 2
