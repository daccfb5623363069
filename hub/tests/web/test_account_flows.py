"""Invitations, the account page, password resets and read-only team tokens in the dashboard."""

from __future__ import annotations

import re

import pytest
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import invites


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


def _invite(web, client, team: int, email: str, role: str = "member"):
    page = f"/teams/{team}"
    return web.post(client, f"{page}/members", {"email": email, "role": role}, page=page)


def _link_path(page) -> str:
    return page.text.split('id="invite-link">')[1].split("<")[0].removeprefix("http://testserver")


def test_adding_a_member_answers_alike_for_every_address(web, acme) -> None:
    web.user("zed@example.com", "Elsewhere", "viewer")  # has an account
    admin = web.signed_in("ann@example.com")
    team = acme["team"]
    answers = {}
    for email in ("zed@example.com", "nobody@example.com"):
        with web.db.write() as conn:
            conn.execute(invites.delete())  # the pending list would show the first address
        response = _invite(web, admin, team, email)
        assert response.status_code == 200
        path = _link_path(response)
        text = response.text.replace(path, "LINK").replace(email, "EMAIL")
        text = re.sub(r"/invites/\d+/", "/invites/ID/", text)
        answers[email] = re.sub(r"\d{4}-\d\d-\d\dT[\d:]+Z", "TIME", text)
    assert answers["zed@example.com"] == answers["nobody@example.com"]
    assert "sends no e-mail" in answers["nobody@example.com"]
    # Nobody joins before accepting: zed is only invited.
    with web.db.read() as conn:
        from tallyhub.accounts import teams

        zed = web.user("zed@example.com", "Elsewhere", "viewer")
        assert teams.role_of(conn, zed, team) is None
    assert web.signed_in("zed@example.com").get(f"/apps/{acme['shop'].id}/traffic").status_code == 404


def test_an_existing_account_accepts_while_signed_in(web, acme) -> None:
    web.user("zed@example.com", "Elsewhere", "viewer")
    admin = web.signed_in("ann@example.com")
    path = _link_path(_invite(web, admin, acme["team"], "Zed@Example.com"))

    # Signed out, the link offers both ways; creating the account again is refused.
    guest = web.client()
    page = guest.get(path)
    assert page.status_code == 200 and "Sign in to accept" in page.text
    again = guest.post(
        path, data={"password": "x" * 12, "password2": "x" * 12, "csrf_token": web.csrf(page.text)}
    )
    assert again.status_code == 400 and "has an account already" in again.text

    # Another signed-in account cannot use a forwarded link.
    eve = web.signed_in("eve@example.com")
    assert "Sign out, then sign in as zed@example.com" in eve.get(path).text
    assert web.post(eve, f"{path}/accept", page=path).status_code == 403
    assert eve.get(f"/apps/{acme['shop'].id}/traffic").status_code == 404

    # Signing in from the link comes back to it; accepting joins once.
    zed = web.client()
    login = zed.get(f"/login?next={path}")
    signed = zed.post(
        "/login",
        data={
            "email": "zed@example.com",
            "password": web.password,
            "next": path,
            "csrf_token": web.csrf(login.text),
        },
    )
    assert signed.headers["location"] == path
    page = zed.get(path)
    assert "Accept as zed@example.com" in page.text
    accepted = zed.post(f"{path}/accept", data={"csrf_token": web.csrf(page.text)})
    assert accepted.status_code == 303
    assert zed.get(f"/apps/{acme['shop'].id}/traffic").status_code == 200
    assert zed.get(path).status_code == 404  # used once
    assert web.post(zed, f"{path}/accept").status_code == 404


def test_accepting_never_lowers_a_role_and_a_new_invitation_replaces_the_old(web, acme) -> None:
    from tallyhub.accounts import teams

    admin = web.signed_in("ann@example.com")
    team = acme["team"]
    first = _link_path(_invite(web, admin, team, "ann@example.com", "viewer"))
    second = _link_path(_invite(web, admin, team, "ann@example.com", "viewer"))
    assert admin.get(first).status_code == 404  # replaced by the second
    assert web.post(admin, f"{second}/accept", page=second).status_code == 303
    with web.db.read() as conn:
        ann = web.user("ann@example.com", "Other2", "viewer")
        assert teams.role_of(conn, ann, team) == "admin"
    # And a viewer invited as member becomes a member.
    vic = web.signed_in("vic@example.com")
    path = _link_path(_invite(web, admin, team, "vic@example.com", "member"))
    assert web.post(vic, f"{path}/accept", page=path).status_code == 303
    with web.db.read() as conn:
        assert teams.role_of(conn, web.user("vic@example.com", "Other2", "viewer"), team) == "member"
