"""Token authentication of the read API: `Authorization: Bearer <token>`, else 401 with a JSON detail."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tallyhub.deps import get_db
from tallyhub.storage.database import Database
from tallyhub.storage.team_tokens import token_team
from tallyhub.storage.tokens import token_id

bearer = HTTPBearer(auto_error=False, description="A token from `tallyhub tokens create NAME`.")


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who is asking: the token's id, and the team it is limited to (None: a CLI token, every app)."""

    token_id: int
    team_id: int | None


def require_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    db: Annotated[Database, Depends(get_db)],
) -> Caller:
    """The caller behind the bearer token; 401 when it is missing or unknown."""
    if credentials is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    with db.read() as conn:
        found = token_id(conn, credentials.credentials)
        team = token_team(conn, found) if found is not None else None
    if found is None:
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    return Caller(found, team)
