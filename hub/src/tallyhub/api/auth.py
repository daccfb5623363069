"""Token authentication of the read API: `Authorization: Bearer <token>`, else 401 with a JSON detail.

A token made on a team's page (api_tokens.team_id set) reads only that team's apps; a CLI token
(team_id NULL) reads every app. A read-only token may only GET (and HEAD, OPTIONS): any other method
answers 403 naming the reason, before the route looks at anything.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tallyhub.accounts.tokens import grant
from tallyhub.api.deps import get_db
from tallyhub.storage.apps import app_exists
from tallyhub.storage.database import Database

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY_REFUSAL = (
    "this token is read-only: it may only read (GET); create a token without read-only to write"
)

bearer = HTTPBearer(auto_error=False, description="A token from `tallyhub tokens create NAME`.")


@dataclasses.dataclass(frozen=True)
class Caller:
    """The token of a request; `team_id` None means it may read every app."""

    token_id: int
    team_id: int | None
    read_only: bool = False

    def may_read(self, app_team_id: int | None) -> bool:
        return self.team_id is None or self.team_id == app_team_id


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    db: Annotated[Database, Depends(get_db)],
) -> Caller:
    """The caller's token and the team it is limited to; 401 when missing or unknown, 403 for a
    read-only token on anything but a read."""
    if credentials is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    with db.read() as conn:
        found = grant(conn, credentials.credentials)
    if found is None:
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    if found.read_only and request.method not in READ_METHODS:
        raise HTTPException(403, READ_ONLY_REFUSAL)
    return Caller(found.token_id, found.team_id, found.read_only)


def readable_app(conn: sa.Connection, caller: Caller, app_id: int) -> bool:
    """Whether the app exists and the caller's token may read it (others are answered as unknown)."""
    return app_exists(conn, app_id, team_id=caller.team_id)
