"""Team settings (team admins): members and roles, invitations, and read-API tokens."""

from __future__ import annotations

import time

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tallyhub.accounts import invites, team_tokens
from tallyhub.accounts import teams as team_store
from tallyhub.accounts import users as user_store
from tallyhub.web.access import (
    FormStr,
    RowId,
    SignedIn,
    WebError,
    request_db,
    require_team,
)
from tallyhub.web.templating import hub_url, render

router = APIRouter()


def _page(request: Request, team: team_store.Team, status_code: int = 200, **shown: str | None) -> Response:
    with request_db(request).read() as conn:
        members = team_store.members(conn, team.id)
        pending = invites.pending_invites(conn, team.id, time.time())
        tokens = team_tokens.team_tokens(conn, team.id)
    return render(
        request,
        "team.html",
        status_code=status_code,
        team=team,
        members=members,
        pending=pending,
        tokens=tokens,
        roles=team_store.ROLES,
        new_token=shown.get("new_token"),
        invite_link=shown.get("invite_link"),
        invited=shown.get("invited"),
        error=shown.get("error"),
    )


def _back(team_id: int) -> Response:
    return RedirectResponse(f"/teams/{team_id}", status_code=303)


@router.get("/teams/{team_id}")
def team_page(request: Request, viewer: SignedIn, team_id: RowId) -> Response:
    return _page(request, require_team(viewer, team_id, "admin"))


@router.post("/teams/{team_id}/members")
def add_member(
    request: Request, viewer: SignedIn, team_id: RowId, email: FormStr = "", role: FormStr = "viewer"
) -> Response:
    team = require_team(viewer, team_id, "admin")
    try:
        address = user_store.normalise_email(email)
        if role not in team_store.ROLES:
            raise ValueError(f"role must be one of {', '.join(team_store.ROLES)}")
    except ValueError as exc:
        return _page(request, team, status_code=400, error=str(exc))
    # Always an invitation, whether or not the address has an account: the answer is the same for
    # every address, and nobody joins a team without accepting.
    with request_db(request).write() as conn:
        secret = invites.create_invite(conn, address, team.id, role, time.time())
    return _page(request, team, invite_link=f"{hub_url(request)}/invite/{secret}", invited=address)


def _check_admins_remain(conn: sa.Connection, team_id: int, user_id: int) -> None:
    """WebError when taking admin away from this user would leave the team without one."""
    if team_store.role_of(conn, user_id, team_id) == "admin" and team_store.admin_count(conn, team_id) <= 1:
        raise WebError(400, "A team needs at least one admin.")


@router.post("/teams/{team_id}/members/{user_id}/role")
def change_role(
    request: Request, viewer: SignedIn, team_id: RowId, user_id: RowId, role: FormStr = ""
) -> Response:
    team = require_team(viewer, team_id, "admin")
    if role not in team_store.ROLES:
        raise WebError(400, f"role must be one of {', '.join(team_store.ROLES)}")
    with request_db(request).write() as conn:
        if team_store.role_of(conn, user_id, team.id) is None:
            raise WebError(404, "No such member.")
        if role != "admin":
            _check_admins_remain(conn, team.id, user_id)
        team_store.set_role(conn, user_id, team.id, role)
    return _back(team.id)


@router.post("/teams/{team_id}/members/{user_id}/remove")
def remove_member(request: Request, viewer: SignedIn, team_id: RowId, user_id: RowId) -> Response:
    team = require_team(viewer, team_id, "admin")
    with request_db(request).write() as conn:
        if team_store.role_of(conn, user_id, team.id) is None:
            raise WebError(404, "No such member.")
        _check_admins_remain(conn, team.id, user_id)
        team_store.remove_member(conn, user_id, team.id)
    return _back(team.id)


@router.post("/teams/{team_id}/invites/{invite_id}/revoke")
def revoke_invite(request: Request, viewer: SignedIn, team_id: RowId, invite_id: RowId) -> Response:
    team = require_team(viewer, team_id, "admin")
    with request_db(request).write() as conn:
        invites.revoke(conn, invite_id, team.id)
    return _back(team.id)


@router.post("/teams/{team_id}/tokens")
def create_token(
    request: Request, viewer: SignedIn, team_id: RowId, name: FormStr = "", read_only: FormStr = ""
) -> Response:
    team = require_team(viewer, team_id, "admin")
    label = name.strip()
    if not 1 <= len(label) <= 200:
        return _page(request, team, status_code=400, error="A token needs a name of 1 to 200 characters.")
    if read_only not in ("", "on"):
        return _page(request, team, status_code=400, error="read_only is either absent or 'on'.")
    with request_db(request).write() as conn:
        token = team_tokens.create_team_token(conn, team.id, label, read_only=read_only == "on")
    return _page(request, team, new_token=token)


@router.post("/teams/{team_id}/tokens/{token_id}/delete")
def delete_token(request: Request, viewer: SignedIn, team_id: RowId, token_id: RowId) -> Response:
    team = require_team(viewer, team_id, "admin")
    with request_db(request).write() as conn:
        if not team_tokens.delete_team_token(conn, team.id, token_id):
            raise WebError(404, "No such token.")
    return _back(team.id)
