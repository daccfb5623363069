"""Read-API tokens: shown once when created, stored as a SHA-256 hash.

Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import api_tokens

PREFIX = "th_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Database, name: str) -> str:
    """Create a token and return it; this is the only time it can be read."""
    token = PREFIX + secrets.token_urlsafe(32)
    with db.write() as conn:
        conn.execute(api_tokens.insert().values(name=name, token_hash=_hash(token), created_at=time.time()))
    return token


def token_id(conn: sa.Connection, token: str) -> int | None:
    """The id of the token, or None when it is unknown."""
    return conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.token_hash == _hash(token))).scalar()
