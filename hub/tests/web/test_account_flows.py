"""Invitations, the account page, password resets and read-only team tokens in the dashboard."""

from __future__ import annotations

import pytest
from tallyhub.storage import apps as app_store


@pytest.fixture
def acme(web):
    """Acme (admin ann, viewer vic) with the app Shop; Other (admin eve)."""
    web.user("ann@example.com", "Acme", "admin")
    web.user("vic@example.com", "Acme", "viewer")
    web.user("eve@example.com", "Other", "admin")
    shop = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    return {"shop": shop, "team": web.team_id("Acme"), "other": web.team_id("Other")}


def test_team_page_makes_read_only_tokens(web, acme) -> None:
    client = web.signed_in("ann@example.com")
    page = f"/teams/{acme['team']}"
    created = web.post(client, f"{page}/tokens", {"name": "grafana", "read_only": "on"}, page=page)
    assert created.status_code == 200
    token = created.text.split('id="new-token">')[1].split("<")[0]
    assert "read-only" in client.get(page).text
    headers = {"Authorization": f"Bearer {token}"}
    shop = acme["shop"].id
    assert client.get(f"/api/v1/apps/{shop}/traffic", headers=headers).status_code == 200
    refused = client.post(f"/api/v1/apps/{shop}/alert-rules", json={}, headers=headers)
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    bad = web.post(client, f"{page}/tokens", {"name": "x", "read_only": "maybe"}, page=page)
    assert bad.status_code == 400
