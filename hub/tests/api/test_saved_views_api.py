"""Saved views in the read API: a team's shared views listed, made and deleted with tokens (both engines).

Read-only tokens list only; another team's token sees nothing; filters are checked as the dashboard's;
a view made here is the dashboard's too, and applied there it shows the figures of the traffic sent.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.storage import apps as app_store

from tests.support.syncs import request_entry, startup_body, sync_body

SENT = [
    ("GET", "/v1/items/{id}", 200, 12),
    ("GET", "/v1/items/{id}/tags", 500, 3),
    ("GET", "/v2/ping", 200, 30),
]


@pytest.fixture
def team(web: Any) -> dict[str, Any]:
    web.user("ann@example.com", "Acme", "admin")
    web.user("eve@example.com", "Other", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    client = web.client()
    instance = str(uuid.uuid4())
    routes = sorted({(m, p) for m, p, _, _ in SENT})
    assert (
        client.post(f"/v2/{app.client_id}/prod/startup", json=startup_body(instance, routes)).status_code
        == 202
    )
    entries = [request_entry(m, p, s, n, 20) for m, p, s, n in SENT]
    assert (
        client.post(f"/v2/{app.client_id}/prod/sync", json=sync_body(instance, requests=entries)).status_code
        == 202
    )
    with web.db.write() as conn:
        tokens = {
            "writer": create_team_token(conn, web.team_id("Acme"), "writer"),
            "reader": create_team_token(conn, web.team_id("Acme"), "reader", read_only=True),
            "other": create_team_token(conn, web.team_id("Other"), "other"),
        }
    return {"id": app.id, "client": client, "tokens": tokens}


def _call(team: dict[str, Any], method: str, route: str, token: str = "writer", **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {team['tokens'][token]}"}
    return team["client"].request(method, f"/api/v1/apps/{team['id']}{route}", headers=headers, **kwargs)


def test_create_list_apply_and_delete(web: Any, team: dict[str, Any]) -> None:
    filters = {"env": "prod", "period": "7d", "path": "/v1/**", "status": "5XX"}
    made = _call(team, "POST", "/views", json={"name": "v1 failures", "filters": filters})
    assert made.status_code == 201, made.text
    view = made.json()
    assert view["filters"] == {"env": "prod", "period": "7d", "path": "/v1/**", "status": "5xx"}
    assert view["shared"] is True and view["created_with_token"] is True
    for token in ("writer", "reader"):
        listed = _call(team, "GET", "/views", token)
        assert listed.status_code == 200 and [v["id"] for v in listed.json()] == [view["id"]]
    # The view's filters give the read API's figures, and the dashboard's bar applies the same.
    traffic = _call(
        team, "GET", "/traffic", params={k: v for k, v in view["filters"].items() if k != "period"}
    )
    want = sum(n for _, p, s, n in SENT if p.startswith("/v1/") and s >= 500)
    assert traffic.json()["totals"]["requests"] == want == 3
    ann = web.signed_in("ann@example.com")
    page = ann.get(f"/apps/{team['id']}/traffic").text
    [href] = re.findall(r'<li class="saved-view"><a href="([^"]*)"[^>]*>v1 failures</a>', page)
    applied = ann.get(href.replace("&amp;", "&")).text
    assert re.search(rf'<span class="label">Requests</span><span class="value">{want}</span>', applied)
    # Deleted with a writing token only.
    assert _call(team, "DELETE", f"/views/{view['id']}", "reader").status_code == 403
    assert _call(team, "DELETE", f"/views/{view['id']}").status_code == 204
    assert _call(team, "GET", "/views").json() == []
    assert _call(team, "DELETE", f"/views/{view['id']}").status_code == 404


def test_read_only_and_other_teams_tokens(team: dict[str, Any]) -> None:
    refused = _call(team, "POST", "/views", "reader", json={"name": "x", "filters": {"env": "prod"}})
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    assert _call(team, "GET", "/views").json() == []
    view = _call(team, "POST", "/views", json={"name": "x", "filters": {"env": "prod"}}).json()
    for method in ("GET", "POST"):
        other = _call(team, method, "/views", "other", json={"name": "y", "filters": {"env": "prod"}})
        assert other.status_code == 404 and other.json() == {"detail": f"app {team['id']} not found"}
    assert _call(team, "DELETE", f"/views/{view['id']}", "other").status_code == 404
    assert [v["name"] for v in _call(team, "GET", "/views").json()] == ["x"]


def test_private_views_stay_private(web: Any, team: dict[str, Any]) -> None:
    ann = web.signed_in("ann@example.com")
    form = {"name": "mine", "page": "traffic", "query": "env=prod"}
    assert web.post(ann, f"/apps/{team['id']}/views", form).status_code == 303
    assert _call(team, "GET", "/views").json() == []
    from tallyhub.storage.tables import saved_views

    with web.db.read() as conn:
        [private_id] = conn.execute(saved_views.select().with_only_columns(saved_views.c.id)).scalars()
    assert _call(team, "DELETE", f"/views/{private_id}").status_code == 404
    shared = {**form, "name": "team", "shared": "on"}
    assert web.post(ann, f"/apps/{team['id']}/views", shared).status_code == 303
    listed = _call(team, "GET", "/views").json()
    assert [(v["name"], v["created_with_token"]) for v in listed] == [("team", False)]


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({"name": "x", "filters": {"sort": "desc"}}, "filters.sort", "not a filter a view holds"),
        ({"name": "x", "filters": {"path": "/v1/**x"}}, "filters.path", "whole segments only"),
        ({"name": "x", "filters": {"path": "v1/*"}}, "filters.path", "starts with /"),
        ({"name": "x", "filters": {"env": "prod", "start": "yesterday"}}, "filters.start", "ISO 8601"),
        ({"name": "x", "filters": {"period": "custom"}}, "filters.start", "needs a start"),
        ({"name": "x", "filters": {}}, "filters", "at least one filter"),
        ({"name": "", "filters": {"env": "prod"}}, "name", "needs a name"),
        ({"name": "x", "filters": {"env": "prod"}, "shared": False}, "shared", "its views are shared"),
        ({"name": "x", "filters": {"env": 1}}, "filters", "string"),
        ({"name": "x", "filters": {"env": "prod"}, "owner": 3}, "owner", "Extra inputs"),
    ],
)
def test_bad_views_are_422_naming_the_field(
    team: dict[str, Any], body: dict[str, Any], loc: str, message: str
) -> None:
    response = _call(team, "POST", "/views", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"][:1]
    assert ".".join(str(p) for p in error["loc"][1:]).startswith(loc) and message in error["msg"], error
    assert _call(team, "GET", "/views").json() == []


def test_duplicate_names_are_refused(team: dict[str, Any]) -> None:
    assert _call(team, "POST", "/views", json={"name": "Prod", "filters": {"env": "prod"}}).status_code == 201
    again = _call(team, "POST", "/views", json={"name": "prod ", "filters": {"period": "1h"}})
    assert again.status_code == 422 and "already exists" in again.json()["detail"][0]["msg"]
