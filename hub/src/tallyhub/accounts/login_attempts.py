"""Sign-in attempts, kept in the database so that the rate limit holds across all hub processes."""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import login_attempts

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5  # guessing one account's password
MAX_FAILURES_PER_IP = 20  # trying many accounts from one address


def record(db: Database, email: str, ip: str, succeeded: bool, now: float) -> None:
    """Remember one attempt and forget those older than the window."""
    with db.write() as conn:
        conn.execute(login_attempts.delete().where(login_attempts.c.attempted_at < now - WINDOW_SECONDS))
        conn.execute(
            login_attempts.insert().values(
                email=email.strip().lower()[:320], ip=ip[:64], attempted_at=now, succeeded=succeeded
            )
        )


def _failures(conn: sa.Connection, column: sa.ColumnElement[str], value: str, now: float) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(login_attempts)
            .where(
                column == value,
                login_attempts.c.attempted_at >= now - WINDOW_SECONDS,
                login_attempts.c.succeeded == sa.false(),
            )
        ).scalar_one()
    )


def retry_after(conn: sa.Connection, email: str, ip: str, now: float) -> int:
    """Seconds to wait before another attempt for this e-mail or address is heard; 0 = go ahead."""
    blocked = _failures(conn, login_attempts.c.email, email.strip().lower()[:320], now) >= (
        MAX_FAILURES_PER_EMAIL
    ) or _failures(conn, login_attempts.c.ip, ip[:64], now) >= (MAX_FAILURES_PER_IP)
    return WINDOW_SECONDS if blocked else 0
