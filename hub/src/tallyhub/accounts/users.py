"""Users who sign in to the dashboard: e-mail (unique, lower-cased), an argon2id password hash, hub admin."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tallyhub.storage.tables import users

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1000  # argon2 takes any length; this only bounds the work a request can ask for
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that a wrong e-mail takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such user")


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    email: str
    created_at: float
    is_hub_admin: bool = False  # may create teams when team_creation is "admins"


class UserError(ValueError):
    """A user cannot be created as asked; the message says why and may be shown to the person."""


def normalise_email(email: str) -> str:
    """The e-mail as stored (trimmed, lower-cased); UserError when it is not an address."""
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or len(value) > 320 or any(c.isspace() for c in value):
        raise UserError(f"{email!r} is not an e-mail address")
    return value


def check_password(password: str) -> None:
    """UserError when the password is too short or too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password has more than {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of a password that passes check_password (hash outside write transactions)."""
    check_password(password)
    return _hasher.hash(password)


def create_user(conn: sa.Connection, email: str, password_hash: str) -> User:
    """Insert a user (the first one is a hub admin); UserError when the e-mail is taken or invalid."""
    address = normalise_email(email)
    if user_by_email(conn, address) is not None:
        raise UserError(f"a user with the e-mail {address} exists already")
    now = time.time()
    first = count_users(conn) == 0  # who sets the hub up runs it
    user_id = conn.execute(
        users.insert()
        .values(email=address, password_hash=password_hash, created_at=now, is_hub_admin=first)
        .returning(users.c.id)
    ).scalar_one()
    return User(user_id, address, now, first)


def set_hub_admin(conn: sa.Connection, email: str, is_hub_admin: bool) -> User:
    """Grant or take away hub admin; UserError when no user has this e-mail."""
    found = user_by_email(conn, email)
    if found is None:
        raise UserError(f"no user has the e-mail {email.strip().lower()}")
    conn.execute(users.update().where(users.c.id == found.id).values(is_hub_admin=is_hub_admin))
    return dataclasses.replace(found, is_hub_admin=is_hub_admin)


def set_password_hash(conn: sa.Connection, user_id: int, password_hash: str) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))


_USER_COLUMNS = (users.c.id, users.c.email, users.c.created_at, users.c.is_hub_admin)


def _user(row: Any) -> User:
    return User(row.id, row.email, row.created_at, bool(row.is_hub_admin))


def user_by_email(conn: sa.Connection, email: str) -> User | None:
    row = conn.execute(sa.select(*_USER_COLUMNS).where(users.c.email == email.strip().lower())).first()
    return _user(row) if row else None


def get_user(conn: sa.Connection, user_id: int) -> User | None:
    row = conn.execute(sa.select(*_USER_COLUMNS).where(users.c.id == user_id)).first()
    return _user(row) if row else None


def count_users(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())


def authenticate(conn: sa.Connection, email: str, password: str) -> User | None:
    """The user whose e-mail and password these are, or None (in about the same time either way)."""
    row = conn.execute(sa.select(users).where(users.c.email == email.strip().lower())).first()
    stored = row.password_hash if row else _DUMMY_HASH
    ok: bool
    try:
        ok = _hasher.verify(stored, password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        ok = False
    return _user(row) if ok and row else None
