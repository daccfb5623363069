"""Heartbeats: an env whose instances have all stopped syncing is down.

Only envs that have synced at least once (and have the heartbeat switched on) are watched. The
incident starts when the env became overdue (last sync + timeout), not when this evaluation ran, so a
late or repeated evaluation gives the same answer: evaluating is idempotent across hub processes.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tallyhub.settings import Settings
from tallyhub.storage.database import Database
from tallyhub.storage.tables import apps, envs, incidents, instances
from tallyhub.uptime.incidents import HEARTBEAT, close_incident, open_incident


def _utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run(db: Database, settings: Settings, now: float) -> tuple[int, int]:
    """Open an incident for every env gone silent, close those of envs syncing again; (opened, closed)."""
    timeout = settings.heartbeat_timeout_seconds
    last_sync = sa.func.max(instances.c.last_sync_at)
    open_heartbeat = (
        sa.select(incidents.c.started_at)
        .where(incidents.c.env_id == envs.c.id, incidents.c.kind == HEARTBEAT, incidents.c.ended_at.is_(None))
        .scalar_subquery()
    )
    query = (
        sa.select(
            envs.c.id,
            envs.c.name,
            envs.c.heartbeat_enabled,
            apps.c.name.label("app"),
            last_sync.label("last_sync"),
            open_heartbeat.label("open_since"),
        )
        .join(apps, apps.c.id == envs.c.app_id)
        .join(instances, instances.c.env_id == envs.c.id)
        .where(instances.c.last_sync_at.is_not(None))
        .group_by(envs.c.id, envs.c.name, envs.c.heartbeat_enabled, apps.c.name)
    )
    opened = closed = 0
    with db.write() as conn:
        for env in conn.execute(query).all():
            overdue_at = env.last_sync + timeout
            if env.heartbeat_enabled and now >= overdue_at and env.open_since is None:
                cause = f"No instance of {env.app} / {env.name} has synced since {_utc(env.last_sync)}."
                details = {"last_sync_at": env.last_sync, "timeout_seconds": timeout}
                opened += open_incident(conn, env.id, HEARTBEAT, None, overdue_at, cause, details)
            elif env.open_since is not None and (not env.heartbeat_enabled or now < overdue_at):
                # Back up: the earliest sync after the incident began is when it ended (each
                # instance keeps only its latest sync, so that is the closest the data tells).
                back = conn.execute(
                    sa.select(sa.func.min(instances.c.last_sync_at)).where(
                        instances.c.env_id == env.id, instances.c.last_sync_at >= env.open_since
                    )
                ).scalar()
                ended = back if env.heartbeat_enabled and back is not None else now
                closed += close_incident(conn, env.id, HEARTBEAT, None, ended)
    return opened, closed
