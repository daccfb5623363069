"""Read-API tokens that belong to a team (made in the dashboard): they read only that team's apps.

They are ordinary api_tokens rows with team_id set, hashed as tokens.py hashes them, so
tokens.grant() knows them too.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from tallyhub.accounts.tokens import new_token_values
from tallyhub.storage.tables import api_tokens


@dataclasses.dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    created_at: float
    last_used_at: float | None
    read_only: bool = False


def create_team_token(conn: sa.Connection, team_id: int, name: str, read_only: bool = False) -> str:
    """Create a token for the team and return it; this is the only time it can be read."""
    token, values = new_token_values(name, read_only)
    conn.execute(api_tokens.insert().values(**values, team_id=team_id))
    return token


def team_tokens(conn: sa.Connection, team_id: int) -> list[TokenInfo]:
    rows = conn.execute(
        sa.select(api_tokens).where(api_tokens.c.team_id == team_id).order_by(api_tokens.c.id)
    ).all()
    return [TokenInfo(r.id, r.name, r.created_at, r.last_used_at, bool(r.read_only)) for r in rows]


def delete_team_token(conn: sa.Connection, team_id: int, token_id: int) -> bool:
    """Delete one of the team's tokens; False when the team has no such token."""
    deleted = conn.execute(
        api_tokens.delete().where(api_tokens.c.id == token_id, api_tokens.c.team_id == team_id)
    ).rowcount
    return bool(deleted)
