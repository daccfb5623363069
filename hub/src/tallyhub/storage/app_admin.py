"""App administration from the dashboard: apps per team, rename, envs, client-ID rotation, deletion."""

from __future__ import annotations

import dataclasses
import time
import uuid

import sqlalchemy as sa

from tallyhub.storage.tables import apps, consumer_hours, consumers, envs, instances, metrics, rollup_marks


@dataclasses.dataclass(frozen=True)
class TeamApp:
    id: int
    team_id: int
    name: str
    client_id: str
    created_at: float
    envs: tuple[str, ...]
    framework: str | None = None  # a key of storage.app_frameworks; None: never chosen


def _env_names(conn: sa.Connection, app_ids: list[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {}
    if app_ids:
        rows = conn.execute(
            sa.select(envs.c.app_id, envs.c.name).where(envs.c.app_id.in_(app_ids)).order_by(envs.c.id)
        ).all()
        for app_id, env in rows:
            names.setdefault(app_id, []).append(env)
    return names


def apps_of_teams(conn: sa.Connection, team_ids: list[int]) -> list[TeamApp]:
    """The apps of the given teams, by name."""
    if not team_ids:
        return []
    rows = conn.execute(
        sa.select(apps).where(apps.c.team_id.in_(team_ids)).order_by(apps.c.name, apps.c.id)
    ).all()
    names = _env_names(conn, [r.id for r in rows])
    return [
        TeamApp(r.id, r.team_id, r.name, r.client_id, r.created_at, tuple(names.get(r.id, ())), r.framework)
        for r in rows
    ]


def team_app(conn: sa.Connection, app_id: int) -> TeamApp | None:
    row = conn.execute(sa.select(apps).where(apps.c.id == app_id)).first()
    if row is None or row.team_id is None:
        return None  # an app without a team is visible to nobody in the dashboard
    names = _env_names(conn, [row.id])
    return TeamApp(
        row.id,
        row.team_id,
        row.name,
        row.client_id,
        row.created_at,
        tuple(names.get(row.id, ())),
        row.framework,
    )


def check_app_name(name: str) -> str:
    value = name.strip()
    if not 1 <= len(value) <= 200:
        raise ValueError("an app name has 1 to 200 characters")
    return value


def rename(conn: sa.Connection, app_id: int, name: str) -> None:
    conn.execute(apps.update().where(apps.c.id == app_id).values(name=check_app_name(name)))


def rotate_client_id(conn: sa.Connection, app_id: int) -> str:
    """Give the app a new client ID; clients holding the old one are no longer accepted."""
    client_id = str(uuid.uuid4())
    conn.execute(apps.update().where(apps.c.id == app_id).values(client_id=client_id))
    return client_id


def add_env(conn: sa.Connection, app_id: int, name: str) -> None:
    exists = conn.execute(sa.select(envs.c.id).where(envs.c.app_id == app_id, envs.c.name == name)).first()
    if exists is None:
        conn.execute(envs.insert().values(app_id=app_id, name=name, created_at=time.time()))


def remove_env(conn: sa.Connection, app_id: int, name: str) -> None:
    """Delete an environment with all its data (the foreign keys cascade)."""
    conn.execute(envs.delete().where(envs.c.app_id == app_id, envs.c.name == name))
    _keep_new_ids_above_the_rollup_mark(conn)
    _refresh_first_active_hours(conn, app_id)


def _keep_new_ids_above_the_rollup_mark(conn: sa.Connection) -> None:
    """After metric rows were deleted with the env: SQLite gives a new row the largest rowid plus one,
    so with the rows of the largest ids gone, a late minute row (a sync for a minute the rollup has
    passed) could get an id at or below the mark's through_id and pass for rolled, counted nowhere.
    Lowering through_id to the largest id left keeps new rows above it; the ids between are gone.
    PostgreSQL's sequence never gives an id twice."""
    if conn.dialect.name != "sqlite":
        return
    largest = sa.select(sa.func.coalesce(sa.func.max(metrics.c.id), 0)).scalar_subquery()
    conn.execute(rollup_marks.update().values(through_id=sa.func.min(rollup_marks.c.through_id, largest)))


def _refresh_first_active_hours(conn: sa.Connection, app_id: int) -> None:
    """Set the app's consumers.first_active_hour again from the hours that remain: the removed env's hours
    are gone, and the new/returning chart counts a consumer new at its first active hour."""
    earliest = (
        sa.select(consumer_hours.c.consumer_id, sa.func.min(consumer_hours.c.bucket).label("bucket"))
        .where(consumer_hours.c.env_id.in_(sa.select(envs.c.id).where(envs.c.app_id == app_id)))
        .group_by(consumer_hours.c.consumer_id)
        .subquery("earliest")
    )
    conn.execute(consumers.update().where(consumers.c.app_id == app_id).values(first_active_hour=None))
    conn.execute(
        consumers.update()
        .where(consumers.c.id == earliest.c.consumer_id)
        .values(first_active_hour=earliest.c.bucket)
    )


def delete_app(conn: sa.Connection, app_id: int) -> None:
    """Delete an app with all its data (the foreign keys cascade to envs, metrics, logs, …)."""
    conn.execute(apps.delete().where(apps.c.id == app_id))
    _keep_new_ids_above_the_rollup_mark(conn)


def last_data_at(conn: sa.Connection, app_id: int) -> float | None:
    """When the app last sent data (latest instance sync or startup), or None if it never has."""
    latest = conn.execute(
        sa.select(sa.func.max(sa.func.coalesce(instances.c.last_sync_at, instances.c.last_startup_at)))
        .join(envs, envs.c.id == instances.c.env_id)
        .where(envs.c.app_id == app_id)
    ).scalar()
    if latest is not None:
        return float(latest)
    # Metrics without an instance row (should ingestion write them first) still count as data.
    bucket = conn.execute(
        sa.select(sa.func.max(metrics.c.bucket))
        .join(envs, envs.c.id == metrics.c.env_id)
        .where(envs.c.app_id == app_id, metrics.c.granularity == 60)
    ).scalar()
    return float(bucket) if bucket is not None else None
