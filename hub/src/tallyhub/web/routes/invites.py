"""Accepting an invitation to a team: signed in with the invited address, or by creating its account.

The link is the credential and works once. Signed in, it must be the invited address: a forwarded link
does not let another account join.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tallyhub.accounts import invites
from tallyhub.accounts import teams as team_store
from tallyhub.accounts import users as user_store
from tallyhub.web.access import FormStr, Viewer, not_found, optional_viewer, request_db
from tallyhub.web.routes.auth import live_link, signed_in
from tallyhub.web.templating import render

router = APIRouter()


def _page(
    request: Request, secret: str, found: invites.Invite, status_code: int = 200, error: str | None = None
) -> Response:
    with request_db(request).read() as conn:
        team = team_store.get_team(conn, found.team_id) if found.team_id is not None else None
    if team is None:
        raise not_found()
    return render(
        request,
        "invite.html",
        status_code=status_code,
        invite=found,
        team=team,
        secret=secret,
        error=error,
    )


def _consume(conn: sa.Connection, secret: str, now: float) -> invites.Invite:
    used = invites.consume(conn, secret, now)
    if used is None or used.email is None or used.team_id is None or used.role is None:
        raise not_found()
    return used


def _join(conn: sa.Connection, user_id: int, used: invites.Invite) -> None:
    """Give the user the invited role, never lowering a role they already have in the team."""
    assert used.team_id is not None and used.role is not None
    current = team_store.role_of(conn, user_id, used.team_id)
    team_store.set_role(conn, user_id, used.team_id, team_store.higher_role(current, used.role))


@router.get("/invite/{secret}")
def invite_page(request: Request, secret: str) -> Response:
    return _page(request, secret, live_link(request, secret, "invite"))


@router.post("/invite/{secret}/accept")
def accept_signed_in(request: Request, secret: str) -> Response:
    found = live_link(request, secret, "invite")
    viewer: Viewer | None = optional_viewer(request)
    if viewer is None:
        return _page(request, secret, found, status_code=401, error="Sign in first, then accept.")
    if viewer.user.email != found.email:
        return _page(
            request,
            secret,
            found,
            status_code=403,
            error=f"This invitation is for {found.email}; you are signed in as {viewer.user.email}.",
        )
    with request_db(request).write() as conn:
        used = _consume(conn, secret, time.time())
        _join(conn, viewer.user.id, used)
    return RedirectResponse("/apps", status_code=303)


@router.post("/invite/{secret}")
def accept_with_new_account(
    request: Request, secret: str, password: FormStr = "", password2: FormStr = ""
) -> Response:
    found = live_link(request, secret, "invite")
    try:
        if password != password2:
            raise ValueError("the two passwords differ")
        password_hash = user_store.hash_password(password)
        with request_db(request).write() as conn:
            if found.email is not None and user_store.user_by_email(conn, found.email) is not None:
                # Only the holder of the link learns this, and they may sign in with it anyway.
                raise ValueError(f"{found.email} has an account already: sign in, then accept")
            used = _consume(conn, secret, time.time())
            assert used.email is not None
            user = user_store.create_user(conn, used.email, password_hash)
            _join(conn, user.id, used)
    except ValueError as exc:
        return _page(request, secret, found, status_code=400, error=str(exc))
    return signed_in(request, user.id, "/apps")
