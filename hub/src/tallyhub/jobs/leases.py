"""Leases in the database, so that work meant to run once runs once across all hub processes."""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import leases
from tallyhub.storage.upsert import insert_for


def acquire(db: Database, name: str, holder: str, ttl: float, now: float) -> bool:
    """Take (or renew) the lease `name` for `ttl` seconds; False when another holder has it."""
    with db.write() as conn:
        stmt = insert_for(conn, leases).values(name=name, holder=holder, expires_at=now + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": holder, "expires_at": now + ttl},
            where=sa.or_(leases.c.expires_at < now, leases.c.holder == holder),
        )
        conn.execute(stmt)
        current = conn.execute(sa.select(leases.c.holder).where(leases.c.name == name)).scalar_one()
    return bool(current == holder)
