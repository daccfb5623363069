"""Cookies and CSRF: the session cookie's flags, and the CSRF token every form and fetch must carry.

The CSRF token is a hash of the browser's session cookie, or before sign-in of a random pre-session
cookie, so a page on another site can neither read nor forge it (the cookies are HttpOnly).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request
from starlette.responses import Response

from tallyhub.accounts.hashing import new_secret
from tallyhub.accounts.sessions import SESSION_SECONDS

SESSION_COOKIE = "tallyhub_session"
PRE_COOKIE = "tallyhub_pre"  # binds the CSRF token of sign-in and setup forms to this browser
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(Exception):
    """A state-changing request came without the right CSRF token."""


def is_https(request: Request) -> bool:
    settings = request.app.state.settings
    return request.url.scheme == "https" or str(settings.public_url).startswith("https://")


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        # Lax, not Strict: links into the dashboard from mail or chat keep the session, while
        # cross-site POSTs (and so CSRF) do not carry it.
        samesite="lax",
        secure=is_https(request),
    )


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    _set_cookie(request, response, SESSION_COOKIE, token, SESSION_SECONDS)


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))


def _token_for(secret: str) -> str:
    return hashlib.sha256(b"tallyhub-csrf\0" + secret.encode()).hexdigest()


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on this page (creating the pre-session cookie when needed)."""
    secret = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE)
    if not secret:
        secret = getattr(request.state, "new_pre_cookie", None) or new_secret()
        request.state.new_pre_cookie = secret
    return _token_for(secret)


def set_pending_cookies(request: Request, response: Response) -> None:
    """Send the pre-session cookie that csrf_token created while rendering, if any."""
    secret = getattr(request.state, "new_pre_cookie", None)
    if secret:
        _set_cookie(request, response, PRE_COOKIE, secret, None)


async def check_csrf(request: Request) -> None:
    """Raise CsrfError for a state-changing request whose token (form field or header) is wrong."""
    if request.method in SAFE_METHODS:
        return
    secret = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE)
    provided = request.headers.get(CSRF_HEADER)
    if provided is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        provided = value if isinstance(value, str) else None
    if not secret or not provided or not hmac.compare_digest(provided, _token_for(secret)):
        raise CsrfError()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
