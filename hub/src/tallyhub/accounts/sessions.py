"""Server-side sign-in sessions: the cookie holds a random token, the database only its hash.

Server-side rather than signed cookies so that logout and a password change really end a session, on
every hub process sharing the database, with no signing key to distribute between processes.
"""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.accounts.hashing import new_secret, secret_hash
from tallyhub.storage.database import Database
from tallyhub.storage.tables import sessions

SESSION_SECONDS = 14 * 86400


def create_session(db: Database, user_id: int, now: float) -> str:
    """Start a session for the user and return its token (the cookie value)."""
    token = new_secret()
    with db.write() as conn:
        # Sweep expired sessions here: sign-ins are rare, so this bounds the table at no extra cost.
        conn.execute(sessions.delete().where(sessions.c.expires_at <= now))
        conn.execute(
            sessions.insert().values(
                token_hash=secret_hash(token),
                user_id=user_id,
                created_at=now,
                expires_at=now + SESSION_SECONDS,
            )
        )
    return token


def user_for_session(conn: sa.Connection, token: str, now: float) -> int | None:
    """The user id of a live session, or None for an unknown or expired token."""
    return conn.execute(
        sa.select(sessions.c.user_id).where(
            sessions.c.token_hash == secret_hash(token), sessions.c.expires_at > now
        )
    ).scalar()


def end_session(db: Database, token: str) -> None:
    with db.write() as conn:
        conn.execute(sessions.delete().where(sessions.c.token_hash == secret_hash(token)))


def end_user_sessions(conn: sa.Connection, user_id: int) -> None:
    conn.execute(sessions.delete().where(sessions.c.user_id == user_id))


def end_other_sessions(conn: sa.Connection, user_id: int, keep_token: str) -> int:
    """End every session of the user but the one with `keep_token`; returns how many ended."""
    return int(
        conn.execute(
            sessions.delete().where(
                sessions.c.user_id == user_id, sessions.c.token_hash != secret_hash(keep_token)
            )
        ).rowcount
    )


def live_session_count(conn: sa.Connection, user_id: int, now: float) -> int:
    """How many unexpired sessions the user has (browsers signed in)."""
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.expires_at > now)
        ).scalar_one()
    )
