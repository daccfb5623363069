"""Uptime of an env or a health check: down now or not, and the share of a window not covered by incidents.

A window is clipped to when monitoring began (the env's first instance with the heartbeat on, its
first health check, or its first incident), so a week-old env is not 100 % up over 90 days: it has
90-day figures over the week it was watched. Incidents overlapping each other count once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.incidents import incidents_overlapping
from tallyhub.storage.tables import envs, health_checks, instances

DAY = 86400
WINDOWS: tuple[tuple[str, int], ...] = (("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY), ("90d", 90 * DAY))
DAY_BARS = 90


@dataclasses.dataclass(frozen=True)
class DayBar:
    start: float
    percent: float | None  # None: not monitored that day


@dataclasses.dataclass(frozen=True)
class EnvUptime:
    env_id: int
    env: str
    state: str  # "up", "down" or "unmonitored"
    since: float | None  # when the current state began (None when unmonitored)
    monitored_since: float | None
    heartbeat_enabled: bool
    percentages: dict[str, float | None]
    days: list[DayBar]
    incidents: list[dict[str, Any]]  # newest first, within the longest window


def _down_seconds(spans: Iterable[tuple[float, float]], start: float, end: float) -> float:
    clipped = sorted((max(s, start), min(e, end)) for s, e in spans if e > start and s < end)
    total, reach = 0.0, start
    for s, e in clipped:
        s = max(s, reach)
        if e > s:
            total += e - s
            reach = e
    return total


def uptime_percent(
    spans: Sequence[tuple[float, float]], start: float, end: float, monitored_since: float | None
) -> float | None:
    """Percent of [start, end) after monitored_since not covered by the spans; None if nothing was watched."""
    if monitored_since is None:
        return None
    start = max(start, monitored_since)
    if end <= start:
        return None
    return round(100.0 * (1 - _down_seconds(spans, start, end) / (end - start)), 3)


def _spans(rows: Iterable[Any], now: float) -> list[tuple[float, float]]:
    return [(r.started_at, r.ended_at if r.ended_at is not None else now) for r in rows]


def _percentages(
    spans: list[tuple[float, float]], now: float, since: float | None
) -> dict[str, float | None]:
    return {name: uptime_percent(spans, now - seconds, now, since) for name, seconds in WINDOWS}


def _days(spans: list[tuple[float, float]], now: float, since: float | None) -> list[DayBar]:
    today = now - now % DAY  # UTC midnight
    bars = []
    for back in range(DAY_BARS - 1, -1, -1):
        start = today - back * DAY
        bars.append(DayBar(start, uptime_percent(spans, start, min(start + DAY, now), since)))
    return bars


def incident_dict(row: Any, now: float) -> dict[str, Any]:
    end = row.ended_at if row.ended_at is not None else now
    return {
        "id": row.id,
        "kind": row.kind,
        "health_check_id": row.health_check_id,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "duration_seconds": round(end - row.started_at, 1),
        "cause": row.cause,
        "details": row.details,
    }


def env_uptime(conn: sa.Connection, env_id: int, now: float) -> EnvUptime:
    """The env's current state, uptime percentages, 90 daily bars and recent incidents."""
    env = conn.execute(sa.select(envs).where(envs.c.id == env_id)).one()
    first_seen = conn.execute(
        sa.select(sa.func.min(instances.c.first_seen)).where(
            instances.c.env_id == env_id, instances.c.last_sync_at.is_not(None)
        )
    ).scalar()
    checks = conn.execute(
        sa.select(health_checks.c.created_at, health_checks.c.paused).where(health_checks.c.env_id == env_id)
    ).all()
    rows = incidents_overlapping(conn, [env_id], now - WINDOWS[-1][1])
    starts = [r.started_at for r in rows] + [c.created_at for c in checks]
    if env.heartbeat_enabled and first_seen is not None:
        starts.append(first_seen)
    monitored_since = min(starts) if starts else None
    watched = (env.heartbeat_enabled and first_seen is not None) or any(not c.paused for c in checks)
    spans = _spans(rows, now)
    open_rows = [r for r in rows if r.ended_at is None]
    if open_rows:
        state, since = "down", min(r.started_at for r in open_rows)
    elif watched and monitored_since is not None:
        ended = [r.ended_at for r in rows if r.ended_at is not None]
        state, since = "up", max([monitored_since, *ended])
    else:
        state, since = "unmonitored", None
    return EnvUptime(
        env_id=env.id,
        env=env.name,
        state=state,
        since=since,
        monitored_since=monitored_since,
        heartbeat_enabled=bool(env.heartbeat_enabled),
        percentages=_percentages(spans, now, monitored_since),
        days=_days(spans, now, monitored_since),
        incidents=[incident_dict(r, now) for r in rows],
    )


def check_percentages(conn: sa.Connection, check: Mapping[str, Any], now: float) -> dict[str, float | None]:
    """Uptime of one health check (a row of checks_of_app) over each window, from its creation on."""
    rows = incidents_overlapping(conn, [check["env_id"]], now - WINDOWS[-1][1], health_check_id=check["id"])
    return _percentages(_spans(rows, now), now, check["created_at"])
