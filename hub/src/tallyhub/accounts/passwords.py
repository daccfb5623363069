"""Changing a password (the current one required) and resetting one through a one-time link.

A reset link is an invites row of kind "reset" for the user's e-mail: hashed, single-use, valid for
RESET_SECONDS. Using it sets the new password and ends every session of the user, so whoever held
the old password or a stolen cookie is out.
"""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.accounts import invites
from tallyhub.accounts import users as user_store
from tallyhub.accounts.hashing import new_secret, secret_hash
from tallyhub.accounts.sessions import end_other_sessions, end_user_sessions
from tallyhub.storage.tables import invites as invites_table

RESET_SECONDS = 3600


class PasswordError(ValueError):
    """The password cannot be changed as asked; the message says why and may be shown."""


def check_current(conn: sa.Connection, user: user_store.User, current: str) -> None:
    """PasswordError unless `current` is the user's password (verify outside write transactions:
    argon2 takes a while and SQLite has one writer)."""
    if user_store.authenticate(conn, user.email, current) is None:
        raise PasswordError("the current password is wrong")


def change_password(conn: sa.Connection, user_id: int, new_hash: str, keep_session: str) -> int:
    """Set a new password (after check_current) and end the user's other sessions; returns how many
    ended."""
    user_store.set_password_hash(conn, user_id, new_hash)
    return end_other_sessions(conn, user_id, keep_session)


def create_reset_link(conn: sa.Connection, user: user_store.User, now: float) -> str:
    """A new reset secret for the user; earlier unused reset links of the user stop working."""
    secret = new_secret()
    conn.execute(
        invites_table.delete().where(
            invites_table.c.kind == "reset",
            invites_table.c.email == user.email,
            invites_table.c.used_at.is_(None),
        )
    )
    conn.execute(
        invites_table.insert().values(
            token_hash=secret_hash(secret),
            kind="reset",
            email=user.email,
            created_at=now,
            expires_at=now + RESET_SECONDS,
        )
    )
    return secret


def reset_password(conn: sa.Connection, secret: str, new_hash: str, now: float) -> user_store.User | None:
    """Use a reset link: set the password and end all the user's sessions; None when the link is
    unknown, used, expired or its user is gone."""
    found = invites.peek(conn, secret, now)
    if found is None or found.kind != "reset":
        return None  # an invitation's secret does not reset anything, nor is it spent here
    used = invites.consume(conn, secret, now)
    if used is None or used.email is None:
        return None
    user = user_store.user_by_email(conn, used.email)
    if user is None:
        return None
    user_store.set_password_hash(conn, user.id, new_hash)
    end_user_sessions(conn, user.id)
    return user
