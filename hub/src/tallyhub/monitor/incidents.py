"""Incidents: the times an env was down. At most one is open per (env, kind, health check).

An env is down while it has an open incident (ended_at NULL). The alerts side reads this table to fire
and resolve its built-in rules; the uptime monitor (heartbeats, health checks) is the only writer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import incidents
from tallyhub.storage.upsert import insert_for

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
