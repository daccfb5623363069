"""Who is signed in and what they may see: the one place that decides access to teams and apps.

A user sees only the apps of teams they belong to. Anything of another team answers 404 (its
existence is not revealed); a role too low for an action answers 403.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

from fastapi import Depends, Form, Path, Request

from tallyhub.accounts import teams as team_store
from tallyhub.accounts import users as user_store
from tallyhub.accounts.sessions import user_for_session
from tallyhub.outbound.policy import Policy
from tallyhub.storage import app_admin
from tallyhub.storage.database import Database
from tallyhub.storage.tables import MAX_ID
from tallyhub.web.security import SESSION_COOKIE

# An id in a dashboard path. One that no Integer column can hold names nothing (and PostgreSQL would
# refuse the query), so FastAPI rejects it before the route runs; the dashboard answers "not found".
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


class LoginRequired(Exception):
    """The page needs a signed-in user."""


class WebError(Exception):
    """An error page: 4xx status and a message for the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found() -> WebError:
    return WebError(404, "Not found.")


@dataclasses.dataclass(frozen=True)
class Viewer:
    """The signed-in user with the teams they belong to."""

    user: user_store.User
    memberships: tuple[team_store.Membership, ...]

    def role_in(self, team_id: int) -> str | None:
        return next((m.role for m in self.memberships if m.team.id == team_id), None)

    @property
    def team_ids(self) -> list[int]:
        return [m.team.id for m in self.memberships]

    def teams_with(self, role: str) -> list[team_store.Team]:
        """The teams where the user has at least `role`."""
        return [m.team for m in self.memberships if team_store.role_at_least(m.role, role)]


def request_db(request: Request) -> Database:
    """The hub's database, for a route or dependency that has the request."""
    db: Database = request.app.state.db
    return db


def request_policy(request: Request) -> Policy:
    """The hub's outbound policy (health-check URLs, channel URLs), built once by the application factory."""
    policy: Policy = request.app.state.outbound_policy
    return policy


def optional_viewer(request: Request) -> Viewer | None:
    """The signed-in user, or None (no cookie, or an unknown or expired session)."""
    if hasattr(request.state, "viewer"):
        viewer: Viewer | None = request.state.viewer
        return viewer
    token = request.cookies.get(SESSION_COOKIE)
    found = None
    if token:
        with request_db(request).read() as conn:
            user_id = user_for_session(conn, token, time.time())
            user = user_store.get_user(conn, user_id) if user_id is not None else None
            if user is not None:
                found = Viewer(user, tuple(team_store.memberships_of(conn, user.id)))
    request.state.viewer = found
    return found


def require_viewer(request: Request) -> Viewer:
    """FastAPI dependency: the signed-in user, or LoginRequired (a redirect to the sign-in page)."""
    viewer = optional_viewer(request)
    if viewer is None:
        raise LoginRequired()
    return viewer


def require_app(request: Request, viewer: Viewer, app_id: int, role: str = "viewer") -> app_admin.TeamApp:
    """The app if the viewer's team owns it and their role is at least `role`; else 404 or 403."""
    with request_db(request).read() as conn:
        app = app_admin.team_app(conn, app_id)
    have = viewer.role_in(app.team_id) if app is not None else None
    if app is None or have is None:
        raise not_found()
    if not team_store.role_at_least(have, role):
        raise WebError(403, f"This needs the {role} role in the app's team; you are {have}.")
    return app


def require_team(viewer: Viewer, team_id: int, role: str = "viewer") -> team_store.Team:
    """The team if the viewer belongs to it with at least `role`; else 404 or 403."""
    membership = next((m for m in viewer.memberships if m.team.id == team_id), None)
    if membership is None:
        raise not_found()
    if not team_store.role_at_least(membership.role, role):
        raise WebError(403, f"This needs the {role} role in the team; you are {membership.role}.")
    return membership.team


# Route parameters shared by the dashboard's routes: the signed-in viewer, and a form field.
SignedIn = Annotated[Viewer, Depends(require_viewer)]
FormStr = Annotated[str, Form()]
