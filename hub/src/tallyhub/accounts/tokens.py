"""Read-API tokens: shown once when created, stored as a SHA-256 hash; listed and revoked by id.

Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force. A read-only
token may only GET; the API refuses its writes (api/auth.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time

import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import api_tokens, teams

PREFIX = "th_"


@dataclasses.dataclass(frozen=True)
class Token:
    """A stored token (never its secret): `team` None means it may read every app."""

    id: int
    name: str
    team: str | None
    read_only: bool
    created_at: float
    last_used_at: float | None


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a presented token may do: the team it is limited to (None: every app) and its kind."""

    token_id: int
    team_id: int | None
    read_only: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_values(name: str, read_only: bool) -> tuple[str, dict[str, object]]:
    """A fresh token and the api_tokens row that stores its hash (team_id left to the caller)."""
    token = PREFIX + secrets.token_urlsafe(32)
    return token, {
        "name": name,
        "token_hash": _hash(token),
        "created_at": time.time(),
        "read_only": read_only,
    }


def create_token(db: Database, name: str, read_only: bool = False) -> str:
    """Create a token for every app and return it; this is the only time it can be read."""
    token, values = new_token_values(name, read_only)
    with db.write() as conn:
        conn.execute(api_tokens.insert().values(**values))
    return token


def token_id(conn: sa.Connection, token: str) -> int | None:
    """The id of the token, or None when it is unknown."""
    return conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.token_hash == _hash(token))).scalar()


def grant(conn: sa.Connection, token: str) -> Grant | None:
    """What the token may do, or None when it is unknown (or revoked)."""
    row = conn.execute(
        sa.select(api_tokens.c.id, api_tokens.c.team_id, api_tokens.c.read_only).where(
            api_tokens.c.token_hash == _hash(token)
        )
    ).first()
    return Grant(row.id, row.team_id, bool(row.read_only)) if row else None


def list_tokens(conn: sa.Connection) -> list[Token]:
    """Every token, CLI and team tokens alike, by id."""
    rows = conn.execute(
        sa.select(api_tokens, teams.c.name.label("team_name"))
        .outerjoin(teams, teams.c.id == api_tokens.c.team_id)
        .order_by(api_tokens.c.id)
    ).all()
    return [Token(r.id, r.name, r.team_name, bool(r.read_only), r.created_at, r.last_used_at) for r in rows]


def revoke_token(conn: sa.Connection, token_id: int) -> bool:
    """Delete the token (it stops working at once, on every hub process); False when there is none."""
    return bool(conn.execute(api_tokens.delete().where(api_tokens.c.id == token_id)).rowcount)
