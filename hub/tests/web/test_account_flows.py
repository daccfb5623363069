"""Invitations, the account page, password resets and read-only team tokens in the dashboard."""

from __future__ import annotations

import re

import pytest
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import invites

from tests.support.hub_process import tallyhub_cli


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
    signed_out = guest.post(f"{path}/accept", data={"csrf_token": web.csrf(page.text)})
    assert signed_out.status_code == 401 and "Sign in first" in signed_out.text

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


def _account_post(web, client, path: str, data: dict[str, str] | None = None):
    return web.post(client, path, data, page="/account")


def test_changing_the_password_needs_the_current_one_and_signs_out_other_sessions(web, acme) -> None:
    here = web.signed_in("ann@example.com")
    there = web.signed_in("ann@example.com")
    page = here.get("/account")
    assert page.status_code == 200 and "1 other session " in page.text
    wrong = _account_post(
        web, here, "/account/password", {"current": "not it", "password": "n" * 10, "password2": "n" * 10}
    )
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    differ = _account_post(
        web, here, "/account/password", {"current": web.password, "password": "n" * 10, "password2": "m" * 10}
    )
    assert differ.status_code == 400 and "differ" in differ.text
    short = _account_post(
        web, here, "/account/password", {"current": web.password, "password": "n", "password2": "n"}
    )
    assert short.status_code == 400 and "at least 8" in short.text
    assert there.get("/apps").status_code == 200  # nothing changed yet

    done = _account_post(
        web, here, "/account/password", {"current": web.password, "password": "n" * 10, "password2": "n" * 10}
    )
    assert done.status_code == 303 and done.headers["location"] == "/account?done=password"
    assert "Password changed" in here.get(done.headers["location"]).text
    assert here.get("/apps").status_code == 200
    assert there.get("/apps").status_code == 303  # signed out
    web.password = "n" * 10
    web.signed_in("ann@example.com")
    with web.db.read() as conn:
        from tallyhub.accounts import users

        assert users.authenticate(conn, "ann@example.com", "correct horse battery") is None


def test_guessing_the_current_password_is_limited_as_sign_in_is(web, acme) -> None:
    # A stolen session must not become a way to guess the account's password without limit.
    here = web.signed_in("ann@example.com")
    guess = {"current": "not it", "password": "n" * 10, "password2": "n" * 10}
    for _ in range(5):
        assert _account_post(web, here, "/account/password", guess).status_code == 400
    refused = _account_post(web, here, "/account/password", guess)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many" in refused.text
    right = _account_post(web, here, "/account/password", {**guess, "current": web.password})
    assert right.status_code == 429  # not even checked while the limit holds
    with web.db.read() as conn:
        from tallyhub.accounts import users

        assert users.authenticate(conn, "ann@example.com", web.password) is not None


def test_signing_out_every_other_session(web, acme) -> None:
    here = web.signed_in("ann@example.com")
    others = [web.signed_in("ann@example.com") for _ in range(2)]
    vic = web.signed_in("vic@example.com")
    assert "2 other sessions" in here.get("/account").text
    done = _account_post(web, here, "/account/sessions/end-others")
    assert done.status_code == 303 and done.headers["location"] == "/account?done=sessions"
    assert here.get("/apps").status_code == 200
    assert [c.get("/apps").status_code for c in others] == [303, 303]
    assert vic.get("/apps").status_code == 200  # another user's sessions are untouched
    assert "0 other sessions" in here.get("/account").text


def test_account_forms_need_sign_in_and_csrf(web, acme) -> None:
    assert web.client().get("/account").status_code == 303
    client = web.signed_in("ann@example.com")
    form = {"current": web.password, "password": "n" * 10, "password2": "n" * 10}
    for path, data in [("/account/password", form), ("/account/sessions/end-others", {})]:
        for token in (None, "0" * 64):
            response = client.post(path, data=data if token is None else {**data, "csrf_token": token})
            assert response.status_code == 403 and "CSRF" in response.text, path
    # The query string cannot put text on the page.
    assert "<script>" not in client.get("/account?done=<script>").text


def test_reset_link_from_the_cli(web, acme, database_url: str) -> None:
    import subprocess
    import sys
    import time

    from tallyhub.storage.tables import invites as invites_table

    ann = web.signed_in("ann@example.com")
    printed = tallyhub_cli(database_url, "users", "reset-password", "Ann@Example.com")
    link = printed.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8000/reset/")
    path = link.removeprefix("http://127.0.0.1:8000")
    guest = web.client()
    page = guest.get(path)
    assert page.status_code == 200 and "ann@example.com" in page.text
    bad = guest.post(
        path, data={"password": "a" * 9, "password2": "b" * 9, "csrf_token": web.csrf(page.text)}
    )
    assert bad.status_code == 400 and "differ" in bad.text
    assert ann.get("/apps").status_code == 200  # still signed in until the link is used
    done = guest.post(
        path,
        data={"password": "fresh password", "password2": "fresh password", "csrf_token": web.csrf(page.text)},
    )
    assert done.status_code == 303 and done.headers["location"] == "/apps"
    assert guest.get("/apps").status_code == 200  # signed in with the new password
    assert ann.get("/apps").status_code == 303  # every earlier session is signed out
    assert web.client().get(path).status_code == 404  # works once
    web.password = "fresh password"
    web.signed_in("ann@example.com")

    # A new link replaces the previous one; a link expires.
    first = tallyhub_cli(database_url, "users", "reset-password", "vic@example.com").strip().splitlines()[-1]
    second = tallyhub_cli(database_url, "users", "reset-password", "vic@example.com").strip().splitlines()[-1]
    client = web.client()
    assert client.get(first.removeprefix("http://127.0.0.1:8000")).status_code == 404
    with web.db.write() as conn:
        conn.execute(invites_table.update().values(expires_at=time.time() - 1))
    assert client.get(second.removeprefix("http://127.0.0.1:8000")).status_code == 404

    # An invitation's link does not reset a password; an unknown e-mail is refused by name.
    invite_path = _link_path(_invite(web, web.signed_in("ann@example.com"), acme["team"], "new@example.com"))
    secret = invite_path.removeprefix("/invite/")
    assert client.get(f"/reset/{secret}").status_code == 404
    assert client.get(invite_path).status_code == 200  # and is not spent by trying
    unknown = subprocess.run(
        [
            sys.executable,
            "-m",
            "tallyhub",
            "users",
            "reset-password",
            "who@example.com",
            "--database-url",
            database_url,
        ],
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 2 and "no user with the e-mail who@example.com" in unknown.stderr
