"""Sign-in, sign-out, the first admin's setup link and accepting an invitation."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tallyhub.accounts import invites
from tallyhub.accounts import login_attempts as attempts
from tallyhub.accounts import teams as team_store
from tallyhub.accounts import users as user_store
from tallyhub.accounts.password_gate import GateBusy, PasswordGate
from tallyhub.accounts.sessions import create_session, end_session
from tallyhub.web import security
from tallyhub.web.access import FormStr, WebError, not_found, optional_viewer, request_db
from tallyhub.web.templating import render

router = APIRouter()


def safe_next(target: str | None) -> str:
    """A local path to go to after sign-in; anything else (another host, //evil) goes to /apps."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/apps"


def _signed_in(request: Request, user_id: int, target: str) -> Response:
    token = create_session(request_db(request), user_id, time.time())
    response = RedirectResponse(safe_next(target), status_code=303)
    security.set_session_cookie(request, response, token)
    return response


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    if optional_viewer(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=next, email="", error=None)


def _login_refused(request: Request, status: int, wait: int, email: str, next: str, error: str) -> Response:
    response = render(request, "login.html", status_code=status, next=next, email=email, error=error)
    response.headers["Retry-After"] = str(wait)
    return response


@router.post("/login")
def login(request: Request, email: FormStr = "", password: FormStr = "", next: FormStr = "") -> Response:
    db, ip, now = request_db(request), security.client_ip(request), time.time()
    attempt = attempts.begin(db, email, ip, now)  # counted before the password is checked
    if attempt.retry_after:
        error = "Too many failed sign-ins from this address. Wait a few minutes, then try again."
        return _login_refused(request, 429, attempt.retry_after, email, next, error)
    gate: PasswordGate = request.app.state.password_gate

    def check() -> user_store.User | None:
        with db.read() as conn:
            return user_store.authenticate(conn, email, password)

    try:
        user = gate.run(check)
    except GateBusy:
        if attempt.id is not None:
            attempts.forget(db, attempt.id)  # never checked: not a failure
        wait = max(1, round(gate.wait_seconds))
        error = "The hub is busy checking other sign-ins. Try again in a moment."
        return _login_refused(request, 503, wait, email, next, error)
    if user is None:
        # 200, not 401: the form is shown again as any page is (and a 401 would need WWW-Authenticate).
        return render(request, "login.html", next=next, email=email, error="Wrong e-mail or password.")
    attempts.succeeded(db, attempt)
    return _signed_in(request, user.id, next)


@router.post("/logout")
def logout(request: Request) -> Response:
    token = request.cookies.get(security.SESSION_COOKIE)
    if token:
        end_session(request_db(request), token)
    response = RedirectResponse("/login", status_code=303)
    security.clear_session_cookie(request, response)
    return response


def _live_link(request: Request, secret: str, kind: str) -> invites.Invite:
    with request_db(request).read() as conn:
        found = invites.peek(conn, secret, time.time())
        if kind == "setup" and user_store.count_users(conn):
            found = None  # the first admin exists: setup links are spent
    if found is None or found.kind != kind:
        raise WebError(404, "This link is unknown, used or expired.")
    return found


@router.get("/setup/{secret}")
def setup_page(request: Request, secret: str) -> Response:
    _live_link(request, secret, "setup")
    return render(request, "setup.html", email="", team="Default", error=None)


@router.post("/setup/{secret}")
def setup(
    request: Request,
    secret: str,
    email: FormStr = "",
    password: FormStr = "",
    password2: FormStr = "",
    team: FormStr = "Default",
) -> Response:
    _live_link(request, secret, "setup")
    try:
        if password != password2:
            raise ValueError("the two passwords differ")
        user_store.normalise_email(email)
        team_store.check_team_name(team)
        password_hash = user_store.hash_password(password)
        with request_db(request).write() as conn:
            if user_store.count_users(conn) or invites.consume(conn, secret, time.time()) is None:
                raise not_found()
            user = user_store.create_user(conn, email, password_hash)
            team_store.set_role(conn, user.id, team_store.ensure_team(conn, team).id, "admin")
    except ValueError as exc:
        return render(request, "setup.html", status_code=400, email=email, team=team, error=str(exc))
    return _signed_in(request, user.id, "/apps")


@router.get("/invite/{secret}")
def invite_page(request: Request, secret: str) -> Response:
    found = _live_link(request, secret, "invite")
    return render(request, "invite.html", invite=found, error=None)


@router.post("/invite/{secret}")
def accept_invite(request: Request, secret: str, password: FormStr = "", password2: FormStr = "") -> Response:
    found = _live_link(request, secret, "invite")
    try:
        if password != password2:
            raise ValueError("the two passwords differ")
        password_hash = user_store.hash_password(password)
        with request_db(request).write() as conn:
            used = invites.consume(conn, secret, time.time())
            if used is None or used.email is None or used.team_id is None or used.role is None:
                raise not_found()
            user = user_store.create_user(conn, used.email, password_hash)
            team_store.set_role(conn, user.id, used.team_id, used.role)
    except ValueError as exc:
        return render(request, "invite.html", status_code=400, invite=found, error=str(exc))
    return _signed_in(request, user.id, "/apps")
