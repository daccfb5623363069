"""Read-only tokens may only GET: every write route of /api/v1 answers 403 naming the reason (both engines).

The write routes are read from the app's OpenAPI description, which FastAPI builds from the app's
router (every /api/v1 route is in it), so a route added later is covered without editing this file.
"""

from __future__ import annotations

import re
from typing import Any

from tallyhub.accounts import teams
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.accounts.tokens import create_token
from tallyhub.api.auth import READ_ONLY_REFUSAL
from tallyhub.storage import apps as app_store

READS = {"get", "head", "options"}
METHODS = {"get", "head", "options", "post", "put", "patch", "delete", "trace"}


def _write_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every /api/ route that takes a method other than a read."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/"):
            found.extend((m.upper(), path) for m in sorted(set(operations) & METHODS - READS))
    return found


def _filled(path: str, app_id: int) -> str:
    values = {"app_id": str(app_id), "env": "prod"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)


def test_every_write_route_refuses_a_read_only_token(api: Any) -> None:
    routes = _write_routes(api.client.app)
    # The routes known today, so that the enumeration itself cannot silently come back empty.
    assert ("POST", "/api/v1/apps/{app_id}/alert-rules") in routes
    assert ("PATCH", "/api/v1/apps/{app_id}/consumers/{identifier}") in routes
    assert ("PUT", "/api/v1/apps/{app_id}/envs/{env}/heartbeat") in routes
    assert ("DELETE", "/api/v1/alert-channels/{channel_id}") in routes
    with api.writer.db.write() as conn:
        team = teams.ensure_team(conn, "Acme").id
        team_read_only = create_team_token(conn, team, "grafana", read_only=True)
    cli_read_only = create_token(api.writer.db, "dashboards", read_only=True)
    for method, template in routes:
        path = _filled(template, api.app_id)
        for token in (cli_read_only, team_read_only):
            response = api.client.request(method, path, json={}, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 403, (method, path, response.text)
            assert response.json() == {"detail": READ_ONLY_REFUSAL}
        # The read-write token of the fixture gets past the check (a 2xx, 404 or 422, never this 403).
        allowed = api.client.request(method, path, json={})
        assert allowed.status_code != 403, (method, path, allowed.text)


def test_a_read_only_token_reads(api: Any) -> None:
    token = create_token(api.writer.db, "dashboards", read_only=True)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get(f"/api/v1/apps/{api.app_id}/traffic", headers=headers).status_code == 200
    assert [a["name"] for a in api.client.get("/api/v1/apps", headers=headers).json()] == ["Shop"]
    with api.writer.db.write() as conn:
        team = teams.ensure_team(conn, "Acme").id
        team_token = create_team_token(conn, team, "grafana", read_only=True)
    mine = app_store.create_app(api.writer.db, "Mine", ("prod",), team_id=team)
    headers = {"Authorization": f"Bearer {team_token}"}
    assert api.client.get(f"/api/v1/apps/{mine.id}/traffic", headers=headers).status_code == 200
    # Read-only narrows a team token; it never widens it to other teams' apps.
    assert api.client.get(f"/api/v1/apps/{api.app_id}/traffic", headers=headers).status_code == 404
