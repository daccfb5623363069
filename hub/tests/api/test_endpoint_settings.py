"""Endpoint settings in the read API: expected statuses and Apdex T change the figures exactly.

Every figure is recomputed here from the requests sent (`by_hand`) and compared for equality, at
minute rows and at rolled hour/day rows, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from tallyhub.accounts import teams
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.accounts.tokens import create_token

from tests.support.metric_rows import Req
from tests.support.syncs import request_entry, sync_body

T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
RANGE = {"start": T0, "end": T0 + 3600}
USER = "/users/{user_id}"
INSTANCE = str(uuid.uuid4())


def _bin(ms: float) -> int:
    return int(ms // 10) * 10


def by_hand(
    reqs: list[Req], expected: dict[tuple[str, str], set[int]], own_t: dict[tuple[str, str], int], app_t: int
) -> dict[str, Any]:
    """The figures from the raw requests: expected statuses are successes, each endpoint has its T."""
    n = len(reqs)

    def key(r: Req) -> tuple[str, str]:
        return (r.method, r.path)

    errors = [r for r in reqs if r.status >= 400 and r.status not in expected.get(key(r), set())]
    c4 = sum(1 for r in errors if r.status < 500)
    c5 = sum(1 for r in errors if r.status >= 500)
    points = 0  # 2 * satisfied + tolerating; a 10 ms bin counts as satisfied when wholly within T
    for r in reqs:
        t = own_t.get(key(r), app_t)
        upper = _bin(r.response_time_ms) + 10
        points += 2 if upper <= t else 1 if upper <= 4 * t else 0
    return {
        "requests": n,
        "requests_4xx": c4,
        "requests_5xx": c5,
        "error_rate": (c4 + c5) / n if n else 0.0,
        "expected_errors": sum(1 for r in reqs if r.status in expected.get(key(r), set())),
        "apdex": points / (2 * n) if n else None,
    }


def _seed(api: Any, rolled: bool = False) -> list[Req]:
    api.writer.endpoint("prod", "GET", USER, in_startup=True)
    reqs = [
        Req(T0 + 10, "GET", USER, 200, "alice", 30),
        Req(T0 + 20, "GET", USER, 404, "alice", 95),
        Req(T0 + 30, "GET", USER, 404, "bob", 250),
        Req(T0 + 70, "GET", USER, 404, None, 410, env="dev"),
        Req(T0 + 80, "GET", USER, 500, "bob", 1900),
        Req(T0 + 90, "POST", "/users", 201, "alice", 120),
        Req(T0 + 95, "POST", "/users", 404, "bob", 480),
        Req(T0 + 130, "POST", "/users", 422, "bob", 40),
        Req(T0 + 200, "DELETE", USER, 409, "carol", 700),
        Req(T0 + 210, "DELETE", USER, 503, "carol", 2500),
    ]
    api.writer.write(reqs, rolled=rolled)
    return reqs


def _settings_url(api: Any) -> str:
    return f"/api/v1/apps/{api.app_id}/endpoint-settings"


def _patch(api: Any, method: str, path: str, body: Any) -> Any:
    return api.client.patch(_settings_url(api), params={"method": method, "path": path}, json=body)


def _check(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        assert actual[name] == value, (name, actual[name], value)


def test_get_gives_defaults_then_patch_sets_expected_statuses(api: Any) -> None:
    _seed(api)
    found = api.client.get(_settings_url(api), params={"method": "get", "path": "/users/<int:user_id>"})
    assert found.status_code == 200, found.text
    assert found.json() == {
        "method": "GET",
        "path_key": "/users/{}",
        "expected_statuses": [],
        "apdex_threshold_ms": None,
        "excluded": False,
        "hidden": False,
    }
    changed = _patch(api, "GET", "/users/:id", {"expected_statuses": [404, 409, 404]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["expected_statuses"] == [404, 409]
    again = api.client.get(_settings_url(api), params={"method": "GET", "path": USER}).json()
    assert again["expected_statuses"] == [404, 409] and again["apdex_threshold_ms"] is None


@pytest.mark.parametrize("rolled", [False, True], ids=["minutes", "rolled"])
def test_expected_statuses_count_as_successes_exactly(api: Any, rolled: bool) -> None:
    reqs = _seed(api, rolled=rolled)
    before = api.get("/traffic", **RANGE)["totals"]
    _check(before, by_hand(reqs, {}, {}, 500))
    expected = {("GET", USER): {404}, ("DELETE", USER): {409, 503}}
    assert _patch(api, "GET", USER, {"expected_statuses": [404]}).status_code == 200
    assert _patch(api, "DELETE", USER, {"expected_statuses": [409, 503]}).status_code == 200
    interval = {"interval": "hour"} if rolled else {}
    traffic = api.get("/traffic", **RANGE, **interval)
    _check(traffic["totals"], by_hand(reqs, expected, {}, 500))
    assert traffic["totals"]["error_rate"] < before["error_rate"]
    # The series: each bucket recomputed from its own requests.
    for point in traffic["series"]:
        start = datetime.fromisoformat(point["time"].replace("Z", "+00:00")).timestamp()
        step = 3600 if rolled else 60
        inside = [r for r in reqs if start <= r.time < start + step]
        _check(point, {k: v for k, v in by_hand(inside, expected, {}, 500).items() if k != "apdex"})
    # Per env (only dev's 404 on GET /users), per endpoint, per consumer.
    dev = [r for r in reqs if r.env == "dev"]
    _check(api.get("/traffic", env="dev", **RANGE)["totals"], by_hand(dev, expected, {}, 500))
    listed = {(e["method"], e["path_key"]): e for e in api.get("/endpoints", **RANGE)}
    for method, path in (("GET", USER), ("POST", "/users"), ("DELETE", USER)):
        mine = [r for r in reqs if (r.method, r.path) == (method, path)]
        entry = listed[(method, "/users/{}" if path == USER else path)]
        _check(entry, by_hand(mine, expected, {}, 500))
    consumers = {c["identifier"]: c for c in api.get("/consumers", **RANGE)}
    for identifier in ("alice", "bob", "carol"):
        mine = [r for r in reqs if r.consumer == identifier]
        _check(
            consumers[identifier], {k: v for k, v in by_hand(mine, expected, {}, 500).items() if k != "apdex"}
        )
    # A status filter: the 4xx requests, of which the expected ones are successes.
    fours = [r for r in reqs if 400 <= r.status < 500]
    _check(api.get("/traffic", status="4xx", **RANGE)["totals"], by_hand(fours, expected, {}, 500))


def test_apdex_uses_each_endpoints_t_then_the_apps_then_the_hubs(api: Any) -> None:
    reqs = _seed(api)
    _check(api.get("/traffic", **RANGE)["totals"], {"apdex": by_hand(reqs, {}, {}, 500)["apdex"]})
    app_url = f"/api/v1/apps/{api.app_id}/settings"
    assert api.client.get(app_url).json() == {
        "apdex_threshold_ms": None,
        "effective_apdex_threshold_ms": 500,
        "sentry_org_url": None,
    }
    assert api.client.patch(app_url, json={"apdex_threshold_ms": 300}).json() == {
        "apdex_threshold_ms": 300,
        "effective_apdex_threshold_ms": 300,
        "sentry_org_url": None,
    }
    _check(api.get("/traffic", **RANGE)["totals"], {"apdex": by_hand(reqs, {}, {}, 300)["apdex"]})
    own = {("GET", USER): 50, ("DELETE", USER): 1000}
    assert _patch(api, "GET", USER, {"apdex_threshold_ms": 50}).json()["apdex_threshold_ms"] == 50
    assert _patch(api, "DELETE", USER, {"apdex_threshold_ms": 1000}).status_code == 200
    totals = api.get("/traffic", **RANGE)["totals"]
    assert totals["apdex"] == by_hand(reqs, {}, own, 300)["apdex"]
    assert totals["apdex"] != by_hand(reqs, {}, {}, 300)["apdex"]
    for entry in api.get("/endpoints", **RANGE):
        path = USER if entry["path_key"] == "/users/{}" else entry["path_key"]
        mine = [r for r in reqs if (r.method, r.path) == (entry["method"], path)]
        assert entry["apdex"] == by_hand(mine, {}, own, 300)["apdex"], entry["method"]
    # hour interval over the same minutes (not rolled: unrolled minutes under an hour query)
    assert api.get("/traffic", interval="hour", **RANGE)["totals"]["apdex"] == totals["apdex"]
    # An apdex_t given with the request replaces the app's T, not the endpoints' own.
    given = api.get("/traffic", apdex_t=50, **RANGE)["totals"]["apdex"]
    assert given == by_hand(reqs, {}, own, 50)["apdex"]
    # Clearing: back to the app's T, then the hub's.
    assert _patch(api, "GET", USER, {"apdex_threshold_ms": None}).json()["apdex_threshold_ms"] is None
    assert api.client.patch(app_url, json={"apdex_threshold_ms": None}).json()["apdex_threshold_ms"] is None
    rest = {("DELETE", USER): 1000}
    assert api.get("/traffic", **RANGE)["totals"]["apdex"] == by_hand(reqs, {}, rest, 500)["apdex"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expected_statuses": [200]}, "expected_statuses"),
        ({"expected_statuses": [999]}, "expected_statuses"),
        ({"expected_statuses": [99]}, "expected_statuses"),
        ({"expected_statuses": ["404"]}, "expected_statuses"),
        ({"expected_statuses": 404}, "expected_statuses"),
        ({"expected_statuses": None}, "expected_statuses"),
        ({"apdex_threshold_ms": 0}, "apdex_threshold_ms"),
        ({"apdex_threshold_ms": -5}, "apdex_threshold_ms"),
        ({"apdex_threshold_ms": 1.5}, "apdex_threshold_ms"),
        ({"apdex_threshold_ms": 600_001}, "apdex_threshold_ms"),
        ({"apdex_threshold_ms": True}, "apdex_threshold_ms"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_values_are_422_naming_the_field_and_change_nothing(api: Any, body: Any, field: str) -> None:
    _seed(api)
    response = _patch(api, "GET", USER, body)
    assert response.status_code == 422, response.text
    assert any(field in error["loc"] for error in response.json()["detail"]), response.text
    found = api.client.get(_settings_url(api), params={"method": "GET", "path": USER}).json()
    assert found["expected_statuses"] == [] and found["apdex_threshold_ms"] is None


def test_app_t_refuses_bad_values(api: Any) -> None:
    url = f"/api/v1/apps/{api.app_id}/settings"
    for value in (0, -1, 2.5, "300", 700_000):
        response = api.client.patch(url, json={"apdex_threshold_ms": value})
        assert response.status_code == 422, (value, response.text)
    assert api.client.get(url).json()["apdex_threshold_ms"] is None
    assert api.client.patch(
        url, content=b"{nope", headers={"Content-Type": "application/json"}
    ).status_code in (
        400,
        422,
    )


def test_the_apps_sentry_organisation_is_set_checked_and_cleared_through_the_api(api: Any) -> None:
    url = f"/api/v1/apps/{api.app_id}/settings"
    set_it = api.client.patch(url, json={"sentry_org_url": "https://my-org.sentry.io/"})
    assert set_it.status_code == 200 and set_it.json()["sentry_org_url"] == "https://my-org.sentry.io"
    assert api.client.patch(url, json={"apdex_threshold_ms": 250}).json()["sentry_org_url"] == (
        "https://my-org.sentry.io"  # keys absent are kept
    )
    for bad in ("http://my-org.sentry.io", "https://", "https://a.io/?q=1", 5):
        refused = api.client.patch(url, json={"sentry_org_url": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert any("sentry_org_url" in error["loc"] for error in refused.json()["detail"]), refused.text
    assert api.client.get(url).json()["sentry_org_url"] == "https://my-org.sentry.io"
    assert api.client.patch(url, json={"sentry_org_url": None}).json()["sentry_org_url"] is None


def test_unknown_endpoint_app_and_bad_method(api: Any) -> None:
    _seed(api)
    url = _settings_url(api)
    assert api.client.get(url, params={"method": "GET", "path": "/nowhere"}).status_code == 404
    assert _patch(api, "GET", "/nowhere", {"expected_statuses": [404]}).status_code == 404
    assert api.client.get(url, params={"method": "G T", "path": USER}).status_code == 422
    assert api.client.get(url, params={"path": USER}).status_code == 422
    assert (
        api.client.get(
            "/api/v1/apps/999999/endpoint-settings", params={"method": "GET", "path": USER}
        ).status_code
        == 404
    )
    assert api.client.get("/api/v1/apps/999999/settings").status_code == 404


def test_read_only_tokens_read_but_cannot_change(api: Any, db: Any) -> None:
    _seed(api)
    token = create_token(db, "reader", read_only=True)
    headers = {"Authorization": f"Bearer {token}"}
    params = {"method": "GET", "path": USER}
    assert api.client.get(_settings_url(api), params=params, headers=headers).status_code == 200
    refused = api.client.patch(
        _settings_url(api), params=params, json={"expected_statuses": [404]}, headers=headers
    )
    assert refused.status_code == 403
    assert (
        api.client.patch(
            f"/api/v1/apps/{api.app_id}/settings", json={"apdex_threshold_ms": 9}, headers=headers
        ).status_code
        == 403
    )
    assert api.client.get(_settings_url(api), params=params).json()["expected_statuses"] == []


def _sync(api: Any, entries: list[dict[str, Any]], **parts: Any) -> None:
    body = sync_body(INSTANCE, requests=entries, **parts)
    sent = api.client.post(f"/v2/{api.client_id}/prod/sync", json=body)
    assert sent.status_code == 202, sent.text


def _totals(api: Any) -> dict[str, Any]:
    return dict(api.get("/traffic", start=int(time.time()) - 3600, end=int(time.time()) + 60)["totals"])


def test_an_excluded_endpoints_traffic_is_no_longer_stored(api: Any) -> None:
    probe = [request_entry("GET", "/healthz", 200, 7, 10)]
    items = [request_entry("GET", "/items", 200, 5, 40), request_entry("GET", "/items", 500, 2, 900)]
    crash = {
        "consumer": None,
        "method": "GET",
        "path": "/healthz",
        "type": "builtins.RuntimeError",
        "msg": "probe broke",
        "traceback": "Traceback ...",
        "sentry_event_id": None,
        "error_count": 1,
    }
    _sync(api, probe + items, server_errors=[crash])
    window = {"start": int(time.time()) - 3600, "end": int(time.time()) + 60}
    listed = {e["path_key"]: e for e in api.get("/endpoints", **window)}
    assert listed["/healthz"]["suggest_exclusion"] is True and listed["/items"]["suggest_exclusion"] is False
    assert _totals(api)["requests"] == 14
    changed = _patch(api, "GET", "/healthz", {"excluded": True})
    assert changed.status_code == 200 and changed.json()["excluded"] is True
    # From now on: the probe's requests and errors are dropped, the rest is stored as before.
    _sync(api, probe + items, server_errors=[crash])
    totals = _totals(api)
    assert (totals["requests"], totals["requests_5xx"]) == (14 + 7, 4)
    listed = {e["path_key"]: e for e in api.get("/endpoints", **window)}
    assert listed["/healthz"]["requests"] == 7 and listed["/healthz"]["excluded"] is True  # kept its page
    assert listed["/healthz"]["suggest_exclusion"] is False
    assert listed["/items"]["requests"] == 14
    errors = api.get("/errors", **window)
    assert [e["count"] for e in errors["server_errors"] if e["path"] == "/healthz"] == [1]
    # Included again: stored again.
    assert _patch(api, "GET", "/healthz", {"excluded": False}).status_code == 200
    _sync(api, probe)
    assert _totals(api)["requests"] == 28


def test_hidden_endpoints_are_left_out_of_lists_unless_asked_for(api: Any) -> None:
    _seed(api)
    assert _patch(api, "POST", "/users", {"hidden": True}).json()["hidden"] is True
    listed = api.client.get(f"/api/v1/apps/{api.app_id}/endpoints", params=RANGE)
    assert [(e["method"], e["path_key"]) for e in listed.json()] == [
        ("DELETE", "/users/{}"),
        ("GET", "/users/{}"),
    ]
    assert listed.headers["X-Total-Count"] == "2"
    every = api.get("/endpoints", include_hidden="true", **RANGE)
    assert [(e["method"], e["hidden"]) for e in every if e["path_key"] == "/users"] == [("POST", True)]
    # Hiding changes no figure: the app's totals still hold the hidden endpoint's requests.
    assert api.get("/traffic", **RANGE)["totals"]["requests"] == 10
    assert _patch(api, "POST", "/users", {"hidden": False}).status_code == 200
    assert len(api.get("/endpoints", **RANGE)) == 3


@pytest.mark.parametrize("body", [{"excluded": "yes"}, {"hidden": 1}, {"excluded": None}, {"hidden": None}])
def test_flags_must_be_booleans(api: Any, body: dict[str, Any]) -> None:
    _seed(api)
    assert _patch(api, "GET", USER, body).status_code == 422


def test_another_teams_token_gets_404_and_changes_nothing(api: Any, db: Any) -> None:
    _seed(api)
    with db.write() as conn:
        other = teams.ensure_team(conn, "Other").id
        token = create_team_token(conn, other, "theirs")
    headers = {"Authorization": f"Bearer {token}"}
    params = {"method": "GET", "path": USER}
    url = _settings_url(api)
    assert api.client.get(url, params=params, headers=headers).status_code == 404
    body = {"expected_statuses": [404]}
    assert api.client.patch(url, params=params, json=body, headers=headers).status_code == 404
    app_url = f"/api/v1/apps/{api.app_id}/settings"
    assert api.client.patch(app_url, json={"apdex_threshold_ms": 9}, headers=headers).status_code == 404
    assert api.client.get(url, params=params).json()["expected_statuses"] == []
    assert api.client.get(app_url).json()["apdex_threshold_ms"] is None
