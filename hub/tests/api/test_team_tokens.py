"""Team tokens (made on a team's dashboard page) read only that team's apps; CLI tokens read every app."""

from __future__ import annotations

from typing import Any

from tallyhub.accounts import teams
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.storage import apps as app_store

ROUTES = ["/traffic", "/endpoints", "/consumers", "/errors", "/instances", "/request-logs"]


def test_team_token_sees_only_its_teams_apps(api: Any) -> None:
    with api.writer.db.write() as conn:
        acme = teams.ensure_team(conn, "Acme").id
        other = teams.ensure_team(conn, "Other").id
        acme_token = create_team_token(conn, acme, "ci")
    mine = app_store.create_app(api.writer.db, "Mine", ("prod",), team_id=acme)
    theirs = app_store.create_app(api.writer.db, "Theirs", ("prod",), team_id=other)
    headers = {"Authorization": f"Bearer {acme_token}"}

    listed = api.client.get("/api/v1/apps", headers=headers)
    assert listed.status_code == 200
    assert [a["name"] for a in listed.json()] == ["Mine"]
    for route in ROUTES:
        assert api.client.get(f"/api/v1/apps/{mine.id}{route}", headers=headers).status_code == 200, route
        for app_id in (theirs.id, api.app_id):  # another team's app, and an app of no team
            response = api.client.get(f"/api/v1/apps/{app_id}{route}", headers=headers)
            assert response.status_code == 404, (route, app_id)
            assert response.json() == {"detail": f"app {app_id} not found"}
    patched = api.client.patch(
        f"/api/v1/apps/{theirs.id}/consumers/x", json={"name": "stolen"}, headers=headers
    )
    assert patched.status_code == 404

    # The CLI token (team_id NULL) still reads everything.
    names = [a["name"] for a in api.client.get("/api/v1/apps").json()]
    assert sorted(names) == ["Mine", "Shop", "Theirs"]
    for app_id in (mine.id, theirs.id, api.app_id):
        assert api.client.get(f"/api/v1/apps/{app_id}/traffic").status_code == 200
