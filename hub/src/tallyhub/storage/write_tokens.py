"""Write tokens: the credential of OTLP exporters (apitally 1.0, any OpenTelemetry SDK), one app each.

A token is `apt_` and 24 letters or digits, the format apitally 1.0 checks before it sends anything
(about 143 random bits, so a fast hash is enough: there is nothing to brute-force). Only its SHA-256 is
stored. Making a new token keeps the previous ones valid for a grace period, so exporters can be
re-deployed with the new one without losing data.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

import sqlalchemy as sa

from tallyhub.storage.tables import write_tokens

PREFIX = "apt_"
ALPHABET = string.ascii_letters + string.digits
LENGTH = 24
FORMAT = re.compile(r"^apt_[a-zA-Z0-9]{24}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def create(conn: sa.Connection, app_id: int, now: float, grace_seconds: float) -> str:
    """Make the app's new write token and return it (the only time it can be read).

    The app's earlier tokens stay valid for `grace_seconds` more (0: revoked at once).
    """
    token = new_token()
    conn.execute(
        write_tokens.update()
        .where(write_tokens.c.app_id == app_id, write_tokens.c.expires_at.is_(None))
        .values(expires_at=now + max(grace_seconds, 0.0))
    )
    conn.execute(
        write_tokens.insert().values(
            app_id=app_id, token_hash=token_hash(token), hint=token[:8], created_at=now, expires_at=None
        )
    )
    return token


def app_for(conn: sa.Connection, token: str, now: float) -> int | None:
    """The app a write token belongs to while it is valid, else None."""
    if not FORMAT.fullmatch(token):
        return None
    row = conn.execute(
        sa.select(write_tokens.c.app_id, write_tokens.c.expires_at).where(
            write_tokens.c.token_hash == token_hash(token)
        )
    ).first()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return int(row.app_id)


def hint(conn: sa.Connection, app_id: int) -> str | None:
    """The first characters of the app's current token (to recognise it), or None when it has none."""
    return conn.execute(
        sa.select(write_tokens.c.hint)
        .where(write_tokens.c.app_id == app_id, write_tokens.c.expires_at.is_(None))
        .order_by(write_tokens.c.id.desc())
        .limit(1)
    ).scalar()
