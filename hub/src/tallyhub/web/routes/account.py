"""The signed-in user's own account (/account): change the password, sign out other sessions; and the
page of a one-time password-reset link that `tallyhub users reset-password` prints."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tallyhub.accounts import login_attempts as attempts
from tallyhub.accounts import passwords
from tallyhub.accounts import users as user_store
from tallyhub.accounts.sessions import end_other_sessions, live_session_count
from tallyhub.web import security
from tallyhub.web.access import FormStr, SignedIn, Viewer, not_found, request_db
from tallyhub.web.routes.auth import live_link, signed_in
from tallyhub.web.templating import render

router = APIRouter()

# What /account?done=… says after a change (a fixed list: the query string cannot put text on the page).
DONE = {
    "password": "Password changed. Your other sessions were signed out.",
    "sessions": "Your other sessions were signed out.",
}


def _session_token(request: Request) -> str:
    return request.cookies.get(security.SESSION_COOKIE, "")


def _page(request: Request, viewer: Viewer, status_code: int = 200, error: str | None = None) -> Response:
    with request_db(request).read() as conn:
        sessions = live_session_count(conn, viewer.user.id, time.time())
    return render(
        request,
        "account.html",
        status_code=status_code,
        other_sessions=max(sessions - 1, 0),
        done=DONE.get(request.query_params.get("done", "")),
        error=error,
    )


@router.get("/account")
def account_page(request: Request, viewer: SignedIn) -> Response:
    return _page(request, viewer)


@router.post("/account/password")
def change_password(
    request: Request,
    viewer: SignedIn,
    current: FormStr = "",
    password: FormStr = "",
    password2: FormStr = "",
) -> Response:
    db = request_db(request)
    # Guessing the current password from a session counts as guessing it at the sign-in form.
    attempt = attempts.begin(db, viewer.user.email, security.client_ip(request), time.time())
    if attempt.retry_after:
        error = "Too many wrong passwords from this address. Wait a few minutes, then try again."
        response = _page(request, viewer, status_code=429, error=error)
        response.headers["Retry-After"] = str(attempt.retry_after)
        return response
    try:
        if password != password2:
            raise ValueError("the two new passwords differ")
        new_hash = user_store.hash_password(password)  # argon2 outside the write transaction
        with db.read() as conn:
            passwords.check_current(conn, viewer.user, current)
        attempts.succeeded(db, attempt)
        with db.write() as conn:
            passwords.change_password(conn, viewer.user.id, new_hash, _session_token(request))
    except passwords.PasswordError as exc:
        return _page(request, viewer, status_code=400, error=str(exc))
    except ValueError as exc:
        attempts.succeeded(db, attempt)  # the current password was not the problem
        return _page(request, viewer, status_code=400, error=str(exc))
    return RedirectResponse("/account?done=password", status_code=303)


@router.post("/account/sessions/end-others")
def end_others(request: Request, viewer: SignedIn) -> Response:
    with request_db(request).write() as conn:
        end_other_sessions(conn, viewer.user.id, _session_token(request))
    return RedirectResponse("/account?done=sessions", status_code=303)


@router.get("/reset/{secret}")
def reset_page(request: Request, secret: str) -> Response:
    found = live_link(request, secret, "reset")
    return render(request, "reset.html", email=found.email, error=None)


@router.post("/reset/{secret}")
def reset(request: Request, secret: str, password: FormStr = "", password2: FormStr = "") -> Response:
    found = live_link(request, secret, "reset")
    try:
        if password != password2:
            raise ValueError("the two passwords differ")
        new_hash = user_store.hash_password(password)
    except ValueError as exc:
        return render(request, "reset.html", status_code=400, email=found.email, error=str(exc))
    with request_db(request).write() as conn:
        user = passwords.reset_password(conn, secret, new_hash, time.time())
    if user is None:
        raise not_found()  # used by a concurrent request, or the user was deleted meanwhile
    return signed_in(request, user.id, "/apps")
