"""Token authentication of the read API: `Authorization: Bearer <token>`, else 401 with a JSON detail.

A token made on a team's page (api_tokens.team_id set) reads only that team's apps; a CLI token
(team_id NULL) reads every app.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tallyhub.accounts.team_tokens import token_team
from tallyhub.accounts.tokens import token_id
from tallyhub.api.deps import get_db
from tallyhub.storage.apps import app_exists
from tallyhub.storage.database import Database

bearer = HTTPBearer(auto_error=False, description="A token from `tallyhub tokens create NAME`.")


@dataclasses.dataclass(frozen=True)
class Caller:
    """The token of a request; `team_id` None means it may read every app."""

    token_id: int
    team_id: int | None

    def may_read(self, app_team_id: int | None) -> bool:
        return self.team_id is None or self.team_id == app_team_id


def require_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    db: Annotated[Database, Depends(get_db)],
) -> Caller:
    """The caller's token and the team it is limited to; 401 when it is missing or unknown."""
    if credentials is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    with db.read() as conn:
        found = token_id(conn, credentials.credentials)
        team_id = token_team(conn, found) if found is not None else None
    if found is None:
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    return Caller(found, team_id)


def readable_app(conn: sa.Connection, caller: Caller, app_id: int) -> bool:
    """Whether the app exists and the caller's token may read it (others are answered as unknown)."""
    return app_exists(conn, app_id, team_id=caller.team_id)
