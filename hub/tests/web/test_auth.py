"""Sign-in, sessions, cookie flags, CSRF, rate limiting, setup link and invitations (both engines)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from tallyhub.accounts import invites
from tallyhub.accounts.login_attempts import MAX_FAILURES_PER_ACCOUNT_AND_IP
from tallyhub.storage.tables import sessions, users


def _login(web, client, email, password):
    page = client.get("/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": web.csrf(page.text)}
    )


def test_pages_need_sign_in(web) -> None:
    client = web.client()
    response = client.get("/apps?period=7d")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fapps%3Fperiod%3D7d"
    assert client.get("/apps/1/status.json").status_code == 401
    assert client.get("/teams/1").status_code == 303


def test_sign_in_sets_a_hardened_cookie_and_goes_to_next(web) -> None:
    web.user("ann@example.com")
    client = web.client()
    page = client.get("/login?next=/apps%3Fperiod%3D7d")
    response = client.post(
        "/login",
        data={
            "email": " Ann@Example.com ",
            "password": web.password,
            "next": "/apps?period=7d",
            "csrf_token": web.csrf(page.text),
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/apps?period=7d"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("tallyhub_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    assert client.get("/apps").status_code == 200
    with web.db.read() as conn:
        stored = conn.execute(sa.select(sessions.c.token_hash)).scalar_one()
    assert stored != client.cookies["tallyhub_session"]  # only the hash is stored


def test_cookie_is_secure_over_https(web) -> None:
    web.user("ann@example.com")
    client = web.client(base_url="https://testserver")
    assert "Secure" in client.get("/login").headers["set-cookie"]  # the pre-session cookie too
    response = _login(web, client, "ann@example.com", web.password)
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


def test_next_never_leaves_the_hub(web) -> None:
    web.user("ann@example.com")
    client = web.client()
    page = client.get("/login")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client.cookies.clear()
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "email": "ann@example.com",
                "password": web.password,
                "next": target,
                "csrf_token": web.csrf(page.text),
            },
        )
        assert response.headers["location"] == "/apps"


def test_wrong_password_and_unknown_user_look_alike(web) -> None:
    web.user("ann@example.com")
    client = web.client()
    wrong = _login(web, client, "ann@example.com", "not the password")
    unknown = _login(web, client, "bob@example.com", web.password)
    assert wrong.status_code == unknown.status_code == 200
    assert "Wrong e-mail or password." in wrong.text and "Wrong e-mail or password." in unknown.text
    assert "tallyhub_session" not in client.cookies


def test_login_is_rate_limited_across_hub_processes(web) -> None:
    web.user("ann@example.com")
    first, second = web.client(), web.client()  # two app instances over one database
    for i in range(MAX_FAILURES_PER_ACCOUNT_AND_IP):
        client = first if i % 2 else second
        assert "Wrong e-mail" in _login(web, client, "ann@example.com", f"wrong {i}").text
    # Even the right password is refused now, on either process.
    for client in (first, second):
        refused = _login(web, client, "ann@example.com", web.password)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
    # Another account from the same address is still heard.
    web.user("bob@example.com")
    assert _login(web, first, "bob@example.com", web.password).status_code == 303


def test_rate_limit_window_passes(web) -> None:
    from tallyhub.accounts import login_attempts

    web.user("ann@example.com")
    old = time.time() - login_attempts.WINDOW_SECONDS - 1
    for _ in range(MAX_FAILURES_PER_ACCOUNT_AND_IP):
        login_attempts.record(web.db, "ann@example.com", "testclient", False, old)
    assert _login(web, web.client(), "ann@example.com", web.password).status_code == 303


def test_csrf_is_required_on_every_state_change(web) -> None:
    web.user("ann@example.com")
    client = web.signed_in("ann@example.com")
    team = web.team_id("Acme")
    created = web.post(
        client, "/apps/new", {"team_id": str(team), "name": "Shop", "framework": "flask", "envs": "prod"}
    )
    app_path = created.headers["location"].split("/setup")[0]
    other = web.signed_in("ann@example.com")  # another browser of the same user: its own token
    stolen = web.csrf(other.get("/apps").text)
    for path, data in [
        ("/logout", {}),
        ("/teams", {"name": "New"}),
        ("/apps/new", {"team_id": str(team), "name": "X", "framework": "flask", "envs": "prod"}),
        (f"{app_path}/settings/name", {"name": "Renamed"}),
        (f"{app_path}/settings/envs", {"name": "qa"}),
        (f"{app_path}/settings/client-id", {}),
        (f"{app_path}/delete", {"confirm": "Shop"}),
        (f"/teams/{team}/tokens", {"name": "ci"}),
        (f"/teams/{team}/members", {"email": "x@example.com", "role": "viewer"}),
    ]:
        for token in (None, "0" * 64, stolen):
            form = dict(data) if token is None else {**data, "csrf_token": token}
            response = client.post(path, data=form)
            assert response.status_code == 403, (path, token)
            assert "CSRF" in response.text
    # A fetch may send the token in a header instead.
    page = client.get(f"{app_path}/settings")
    ok = client.post(
        f"{app_path}/settings/name", data={"name": "Renamed"}, headers={"X-CSRF-Token": web.csrf(page.text)}
    )
    assert ok.status_code == 303
    assert "Renamed" in client.get(f"{app_path}/settings").text


def test_login_form_needs_csrf(web) -> None:
    web.user("ann@example.com")
    client = web.client()
    response = client.post("/login", data={"email": "ann@example.com", "password": web.password})
    assert response.status_code == 403
    assert "tallyhub_session" not in client.cookies


def test_logout_ends_the_session_everywhere(web) -> None:
    web.user("ann@example.com")
    client = web.signed_in("ann@example.com")
    cookie = client.cookies["tallyhub_session"]
    response = web.post(client, "/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (
        'tallyhub_session=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    replay = web.client()
    replay.cookies.set("tallyhub_session", cookie)
    assert replay.get("/apps").status_code == 303


def test_expired_session_signs_out(web) -> None:
    web.user("ann@example.com")
    client = web.signed_in("ann@example.com")
    with web.db.write() as conn:
        conn.execute(sessions.update().values(expires_at=time.time() - 1))
    assert client.get("/apps").status_code == 303


def test_setup_link_creates_the_first_admin_once(web) -> None:
    secret = invites.create_setup_link(web.db, time.time())
    client = web.client()
    assert client.get("/setup/not-the-secret").status_code == 404
    page = client.get(f"/setup/{secret}")
    assert page.status_code == 200
    token = web.csrf(page.text)
    mismatch = client.post(
        f"/setup/{secret}",
        data={
            "email": "root@example.com",
            "password": "long enough",
            "password2": "different!",
            "team": "Ops",
            "csrf_token": token,
        },
    )
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    short = client.post(
        f"/setup/{secret}",
        data={
            "email": "root@example.com",
            "password": "short",
            "password2": "short",
            "team": "Ops",
            "csrf_token": token,
        },
    )
    assert short.status_code == 400 and "at least 8" in short.text
    done = client.post(
        f"/setup/{secret}",
        data={
            "email": "root@example.com",
            "password": "long enough",
            "password2": "long enough",
            "team": "Ops",
            "csrf_token": token,
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/apps"
    assert "Ops" in client.get("/apps").text
    with web.db.read() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    # Single use: the link is spent, and a new one is refused while a user exists.
    again = web.client()
    assert again.get(f"/setup/{secret}").status_code == 404
    fresh = invites.create_setup_link(web.db, time.time())
    assert again.get(f"/setup/{fresh}").status_code == 404


def test_invitation_creates_a_member(web) -> None:
    web.user("ann@example.com")
    admin = web.signed_in("ann@example.com")
    team = web.team_id("Acme")
    page = web.post(
        admin, f"/teams/{team}/members", {"email": "New@Example.com", "role": "viewer"}, page=f"/teams/{team}"
    )
    assert page.status_code == 200
    link = page.text.split('id="invite-link">')[1].split("<")[0]
    assert link.startswith("http://testserver/invite/")
    path = link.removeprefix("http://testserver")
    guest = web.client()
    form = guest.get(path)
    assert form.status_code == 200 and "new@example.com" in form.text
    accepted = guest.post(
        path,
        data={"password": "new password", "password2": "new password", "csrf_token": web.csrf(form.text)},
    )
    assert accepted.status_code == 303
    assert guest.get("/apps").status_code == 200
    assert web.client().get(path).status_code == 404  # used once
    assert "new@example.com" in admin.get(f"/teams/{team}").text


def test_pages_forbid_framing_and_foreign_scripts(web) -> None:
    response = web.client().get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cache-control"] == "no-store"
