"""Sign-in attempts, counted in the database before the password is checked, across all hub processes.

An attempt is stored as a failure before its password is verified and becomes a success only when the
password was right. Attempts from one address are decided one at a time (PostgreSQL: a transaction
lock on the address, across hub processes; SQLite: its single writer), each after every earlier one
is stored, so of N concurrent guesses exactly the first up to the limit are verified. (Counting after
each own row's commit, as before, kept the bound but could refuse all N when every row was committed
before any was counted.)
Limits are per (account, address) and per address, never per account alone, so that failures from
one address cannot keep the account's owner out from another.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import login_attempts

WINDOW_SECONDS = 15 * 60  # sliding: a failure stops counting this long after it happened
MAX_FAILURES_PER_ACCOUNT_AND_IP = 5  # guessing one account's password from one address
MAX_FAILURES_PER_IP = 20  # trying many accounts from one address


@dataclasses.dataclass(frozen=True)
class Attempt:
    """A counted attempt (id of its row), or a refused one (retry_after > 0, no row kept)."""

    id: int | None
    retry_after: int


def _key(email: str, ip: str) -> tuple[str, str]:
    return email.strip().lower()[:320], ip[:64]


def _failures(conn: sa.Connection, where: sa.ColumnElement[bool], now: float) -> tuple[int, float | None]:
    """How many failures (pending ones included) match, and when the oldest of them happened."""
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.min(login_attempts.c.attempted_at)).where(
            where,
            login_attempts.c.attempted_at > now - WINDOW_SECONDS,
            login_attempts.c.succeeded == sa.false(),
        )
    ).one()
    return int(row[0]), row[1]


def begin(db: Database, email: str, ip: str, now: float) -> Attempt:
    """Count one attempt before its password is checked; a refused one says how long to wait."""
    address_email, address = _key(email, ip)
    limits = (
        (login_attempts.c.ip == address, MAX_FAILURES_PER_IP),
        (
            sa.and_(login_attempts.c.email == address_email, login_attempts.c.ip == address),
            MAX_FAILURES_PER_ACCOUNT_AND_IP,
        ),
    )
    with db.write() as conn:
        if not db.is_sqlite:  # one decision at a time per address (both limits hold the address)
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"login {address}"})
        conn.execute(login_attempts.delete().where(login_attempts.c.attempted_at <= now - WINDOW_SECONDS))
        wait = 0.0
        for where, limit in limits:
            count, oldest = _failures(conn, where, now)
            if count >= limit and oldest is not None:
                wait = max(wait, oldest + WINDOW_SECONDS - now)
        if wait > 0:  # refused, and not stored: a refused attempt does not prolong the wait
            return Attempt(None, max(1, int(wait + 0.999)))
        attempt_id = conn.execute(
            login_attempts.insert()
            .values(email=address_email, ip=address, attempted_at=now, succeeded=False)
            .returning(login_attempts.c.id)
        ).scalar_one()
    return Attempt(int(attempt_id), 0)


def succeeded(db: Database, attempt: Attempt) -> None:
    """The attempt's password was right: it no longer counts as a failure."""
    if attempt.id is not None:
        with db.write() as conn:
            conn.execute(
                login_attempts.update().where(login_attempts.c.id == attempt.id).values(succeeded=True)
            )


def forget(db: Database, attempt_id: int) -> None:
    """Drop an attempt whose password was never checked (refused, or the hub was too busy)."""
    with db.write() as conn:
        conn.execute(login_attempts.delete().where(login_attempts.c.id == attempt_id))


def record(db: Database, email: str, ip: str, succeeded: bool, now: float) -> None:
    """Store a finished attempt as it was (for imports and tests of the window)."""
    address_email, address = _key(email, ip)
    with db.write() as conn:
        conn.execute(
            login_attempts.insert().values(
                email=address_email, ip=address, attempted_at=now, succeeded=succeeded
            )
        )
