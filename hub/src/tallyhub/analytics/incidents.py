"""Reading incidents (the times an env was down): what is open now, and what overlaps a window.

The uptime monitor writes them (tallyhub.uptime.incidents); the uptime pages, the read API and the
alerts' built-in rules read them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import incidents


def open_incidents(db: Database, env_id: int) -> Sequence[sa.Row[Any]]:
    """The env's open incidents (every column of `incidents`), oldest first; empty while the env is up."""
    with db.read() as conn:
        return conn.execute(
            sa.select(incidents)
            .where(incidents.c.env_id == env_id, incidents.c.ended_at.is_(None))
            .order_by(incidents.c.started_at, incidents.c.id)
        ).all()


def incidents_overlapping(
    conn: sa.Connection, env_ids: Sequence[int], start: float, health_check_id: int | None = None
) -> list[sa.Row[Any]]:
    """Incidents of the envs (or of one check) still open or ended after `start`, newest first."""
    if not env_ids:
        return []
    condition = sa.and_(
        incidents.c.env_id.in_(env_ids),
        sa.or_(incidents.c.ended_at.is_(None), incidents.c.ended_at > start),
    )
    if health_check_id is not None:
        condition = sa.and_(condition, incidents.c.health_check_id == health_check_id)
    return list(
        conn.execute(
            sa.select(incidents)
            .where(condition)
            .order_by(incidents.c.started_at.desc(), incidents.c.id.desc())
        ).all()
    )
