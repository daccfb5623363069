"""Incidents: the times an env was down. At most one is open per (env, kind, health check).

An env is down while it has an open incident (ended_at NULL). The alerts side reads this table to fire
and resolve its built-in rules; the uptime side is the only writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import incidents

HEARTBEAT = "heartbeat"
HEALTH_CHECK = "health_check"


def open_incidents(db: Database, env_id: int) -> Sequence[sa.Row[Any]]:
    """The env's open incidents (every column of `incidents`), oldest first; empty while the env is up."""
    with db.read() as conn:
        return conn.execute(
            sa.select(incidents)
            .where(incidents.c.env_id == env_id, incidents.c.ended_at.is_(None))
            .order_by(incidents.c.started_at, incidents.c.id)
        ).all()
