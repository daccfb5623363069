"""Uptime API: uptime per env, health-check CRUD (422s name the field), heartbeat switch (both engines)."""

from __future__ import annotations

import time
from typing import Any

from tallyhub.accounts import teams
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.outbound.policy import Policy
from tallyhub.storage import apps as app_store
from tallyhub.uptime.check_runner import run_due

from tests.support.http_target import HttpTarget
from tests.support.uptime import env_id, synced


def _base(api: Any) -> str:
    return f"/api/v1/apps/{api.app_id}"


def test_health_check_crud_and_uptime(api: Any) -> None:
    target = HttpTarget()
    try:
        created = api.client.post(
            f"{_base(api)}/health-checks",
            json={"env": "prod", "url": target.url, "body_contains": "systems go", "timeout_seconds": 1},
        )
        assert created.status_code == 201, created.text
        check = created.json()
        assert (check["env"], check["method"], check["expected_status"], check["interval_seconds"]) == (
            "prod",
            "GET",
            200,
            60,
        )
        assert check["last_result"] is None and check["paused"] is False

        target.behaviour.status = 503
        run_due(api.writer.db, time.time(), Policy(allow_local=True), retry_delay=0.01)
        uptime = api.get("/uptime", env="prod")
        [prod] = uptime["envs"]
        assert prod["state"] == "down" and prod["uptime"]["24h"] is not None
        [incident] = prod["incidents"]
        assert incident["kind"] == "health_check" and incident["ended_at"] is None
        assert incident["details"]["status_code"] == 503 and incident["cause"].endswith("expected 200.")
        [listed] = prod["health_checks"]
        assert listed["last_result"]["ok"] is False and listed["last_result"]["status_code"] == 503
        assert len(prod["days"]) == 90

        patched = api.client.patch(
            f"{_base(api)}/health-checks/{check['id']}", json={"expected_status": 503, "paused": True}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["expected_status"] == 503 and patched.json()["paused"] is True
        assert api.get("/uptime", env="prod")["envs"][0]["incidents"][0]["ended_at"] is not None

        assert api.client.delete(f"{_base(api)}/health-checks/{check['id']}").status_code == 204
        assert api.client.get(f"{_base(api)}/health-checks/{check['id']}").status_code == 404
        assert api.get("/health-checks") == []
    finally:
        target.stop()


def test_bad_input_is_a_422_naming_the_field(api: Any) -> None:
    cases = [
        ({"env": "prod", "url": "not a url"}, "url"),
        ({"env": "prod", "url": "http://x.test/", "method": "FETCH"}, "method"),
        ({"env": "prod", "url": "http://x.test/", "expected_status": 700}, "expected_status"),
        ({"env": "prod", "url": "http://x.test/", "expected_status": "two hundred"}, "expected_status"),
        ({"env": "prod", "url": "http://x.test/", "interval_seconds": 1}, "interval_seconds"),
        ({"env": "staging", "url": "http://x.test/"}, "env"),
        ({"url": "http://x.test/"}, "env"),
        ({"env": "prod", "url": "http://x.test/", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = api.client.post(f"{_base(api)}/health-checks", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"][-1] == field, response.json()
    made = api.client.post(
        f"{_base(api)}/health-checks", json={"env": "prod", "url": "http://x.test/"}
    ).json()
    response = api.client.patch(f"{_base(api)}/health-checks/{made['id']}", json={"url": "ftp://x.test/"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "url"]
    assert api.client.get(f"{_base(api)}/uptime", params={"env": "nope"}).status_code == 422


def test_heartbeat_switch(api: Any) -> None:
    db = api.writer.db
    synced(db, env_id(db, api.app_id), time.time() - 3600)
    from tallyhub.settings import load_settings
    from tallyhub.uptime import heartbeats

    heartbeats.run(db, load_settings(environ={}), time.time())
    assert api.get("/uptime", env="prod")["envs"][0]["state"] == "down"
    response = api.client.put(f"{_base(api)}/envs/prod/heartbeat", json={"enabled": False})
    assert response.status_code == 200 and response.json() == {"env": "prod", "enabled": False}
    prod = api.get("/uptime", env="prod")["envs"][0]
    assert prod["heartbeat_enabled"] is False and prod["state"] == "unmonitored"
    assert api.client.put(f"{_base(api)}/envs/nope/heartbeat", json={"enabled": True}).status_code == 404
    assert api.client.put(f"{_base(api)}/envs/prod/heartbeat", json={"enabled": "maybe"}).status_code == 422


def test_team_token_reaches_only_its_teams_checks(api: Any) -> None:
    db = api.writer.db
    with db.write() as conn:
        acme = teams.ensure_team(conn, "Acme").id
        other = teams.ensure_team(conn, "Other").id
        token = create_team_token(conn, acme, "ci")
    theirs = app_store.create_app(db, "Theirs", ("prod",), team_id=other)
    made = api.client.post(
        f"/api/v1/apps/{theirs.id}/health-checks", json={"env": "prod", "url": "http://x.test/"}
    ).json()  # with the CLI token, which reaches every app
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/apps/{theirs.id}"
    for method, path, body in [
        ("GET", "/uptime", None),
        ("GET", "/health-checks", None),
        ("POST", "/health-checks", {"env": "prod", "url": "http://x.test/"}),
        ("PATCH", f"/health-checks/{made['id']}", {"paused": True}),
        ("DELETE", f"/health-checks/{made['id']}", None),
        ("PUT", "/envs/prod/heartbeat", {"enabled": False}),
    ]:
        response = api.client.request(method, base + path, json=body, headers=headers)
        assert response.status_code == 404, (method, path)
    assert api.client.get(f"{base}/health-checks/{made['id']}").json()["paused"] is False
    assert api.client.get(f"{base}/uptime", headers={"Authorization": "Bearer nope"}).status_code == 401
