"""Opening and closing incidents: the times an env was down. At most one is open per (env, kind, check).

An env is down while it has an open incident (ended_at NULL). The uptime monitor (heartbeats, health
checks) is the only writer; the reads are in tallyhub.analytics.incidents, where alerts read them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tallyhub.storage.tables import incidents
from tallyhub.storage.upsert import insert_for

HEARTBEAT = "heartbeat"
HEALTH_CHECK = "health_check"


def _same(env_id: int, kind: str, health_check_id: int | None) -> sa.ColumnElement[bool]:
    check = (
        incidents.c.health_check_id.is_(None)
        if health_check_id is None
        else incidents.c.health_check_id == health_check_id
    )
    return sa.and_(incidents.c.env_id == env_id, incidents.c.kind == kind, check)


def open_incident(
    conn: sa.Connection,
    env_id: int,
    kind: str,
    health_check_id: int | None,
    started_at: float,
    cause: str,
    details: Mapping[str, Any],
) -> bool:
    """Open an incident unless one of this env, kind and check is open already; True when it opened one."""
    # The partial unique indexes (uq_incidents_open_*) settle a race between hub processes: the
    # loser's insert does nothing instead of failing its transaction.
    stmt = (
        insert_for(conn, incidents)
        .values(
            env_id=env_id,
            kind=kind,
            health_check_id=health_check_id,
            started_at=started_at,
            ended_at=None,
            cause=cause,
            details=dict(details),
        )
        .on_conflict_do_nothing()
        .returning(incidents.c.id)
    )
    return conn.execute(stmt).first() is not None


def close_incident(
    conn: sa.Connection, env_id: int, kind: str, health_check_id: int | None, ended_at: float
) -> bool:
    """Close the open incident of this env, kind and check, if any; True when one was closed."""
    result = conn.execute(
        incidents.update()
        .where(_same(env_id, kind, health_check_id), incidents.c.ended_at.is_(None))
        .values(ended_at=ended_at)
    )
    return result.rowcount > 0
