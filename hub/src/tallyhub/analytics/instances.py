"""Instances (running processes) of an app, with their last reported resources."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.times import iso
from tallyhub.metrics.selection import Selection
from tallyhub.storage.tables import instances


def _iso_or_none(seconds: float | None) -> str | None:
    return iso(seconds) if seconds is not None else None


def list_instances(
    conn: sa.Connection, resolved: Selection, active: tuple[float, float] | None = None
) -> list[dict[str, Any]]:
    """Every instance of the selected envs (alive in the [start, end) `active`, if given), latest first."""
    if not resolved.env_ids:
        return []
    select = sa.select(instances).where(instances.c.env_id.in_(resolved.env_ids))
    if active is not None:
        # Alive in the range: seen before its end, and last heard of (sync, else startup) after its start.
        last_heard = sa.func.coalesce(
            instances.c.last_sync_at, instances.c.last_startup_at, instances.c.first_seen
        )
        select = select.where(instances.c.first_seen < active[1], last_heard >= active[0])
    rows = conn.execute(select).all()
    listed = [
        {
            "instance_uuid": row.instance_uuid,
            "env": resolved.env_names[row.env_id],
            "client": row.client,
            "versions": row.versions if isinstance(row.versions, dict) else {},
            "app_version": row.app_version,
            "first_seen": iso(row.first_seen),
            "last_startup_at": _iso_or_none(row.last_startup_at),
            "last_sync_at": _iso_or_none(row.last_sync_at),
            "cpu_percent": row.cpu_percent,
            "memory_rss": row.memory_rss,
        }
        for row in rows
    ]
    listed.sort(key=lambda i: (i["last_sync_at"] or "", i["first_seen"]), reverse=True)
    return listed
