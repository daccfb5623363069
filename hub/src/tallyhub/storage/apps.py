"""Apps and their environments: created by operators, looked up by client ID on every ingest."""

from __future__ import annotations

import dataclasses
import time
import uuid

import sqlalchemy as sa

from tallyhub.storage import app_frameworks
from tallyhub.storage.database import Database
from tallyhub.storage.tables import apps, envs, teams
from tallyhub.storage.upsert import insert_ignore

DEFAULT_TEAM = "Default"  # the team of apps created without one (CLI, tests, apps made before teams)


@dataclasses.dataclass(frozen=True)
class App:
    id: int
    name: str
    client_id: str
    created_at: float
    envs: tuple[str, ...]
    framework: str | None = None  # a key of storage.app_frameworks; None: never chosen


def create_app(
    db: Database,
    name: str,
    env_names: tuple[str, ...] = ("prod", "dev"),
    team_id: int | None = None,
    framework: str | None = None,
) -> App:
    """Create an app with a fresh client ID and the given environments, in a team (default: "Default"),
    set up with `framework` (a key of storage.app_frameworks, checked; None: none chosen)."""
    if framework is not None:
        app_frameworks.checked(framework)
    now = time.time()
    client_id = str(uuid.uuid4())
    with db.write() as conn:
        if team_id is None:
            team_id = _default_team_id(conn, now)
        app_id = conn.execute(
            apps.insert()
            .values(name=name, client_id=client_id, created_at=now, team_id=team_id, framework=framework)
            .returning(apps.c.id)
        ).scalar_one()
        for env in dict.fromkeys(env_names):
            conn.execute(envs.insert().values(app_id=app_id, name=env, created_at=now))
    return App(app_id, name, client_id, now, tuple(dict.fromkeys(env_names)), framework)


def _default_team_id(conn: sa.Connection, now: float) -> int:
    insert_ignore(conn, teams, {"name": DEFAULT_TEAM, "created_at": now}, ["name"])
    return int(conn.execute(sa.select(teams.c.id).where(teams.c.name == DEFAULT_TEAM)).scalar_one())


def list_apps(conn: sa.Connection, app_id: int | None = None) -> list[App]:
    """Every app (or only `app_id`) with its environments, in creation order."""
    env_query = sa.select(envs.c.app_id, envs.c.name).order_by(envs.c.id)
    app_query = sa.select(apps).order_by(apps.c.id)
    if app_id is not None:
        env_query = env_query.where(envs.c.app_id == app_id)
        app_query = app_query.where(apps.c.id == app_id)
    env_names: dict[int, list[str]] = {}
    for owner, env in conn.execute(env_query):
        env_names.setdefault(owner, []).append(env)
    rows = conn.execute(app_query).all()
    return [
        App(r.id, r.name, r.client_id, r.created_at, tuple(env_names.get(r.id, ())), r.framework)
        for r in rows
    ]


def get_app(conn: sa.Connection, app_id: int) -> App | None:
    found = list_apps(conn, app_id)
    return found[0] if found else None


def app_exists(conn: sa.Connection, app_id: int, team_id: int | None = None) -> bool:
    """Whether the app exists (in team `team_id`, when one is given)."""
    query = sa.select(apps.c.id).where(apps.c.id == app_id)
    if team_id is not None:
        query = query.where(apps.c.team_id == team_id)
    return conn.execute(query).first() is not None


def team_of_app(conn: sa.Connection, app_id: int) -> int | None:
    """The team the app belongs to (None for an unknown app)."""
    team_id = conn.execute(sa.select(apps.c.team_id).where(apps.c.id == app_id)).scalar()
    return int(team_id) if team_id is not None else None


def app_envs(conn: sa.Connection, app_id: int) -> dict[int, str]:
    """The app's environments, id -> name, in creation order."""
    rows = conn.execute(sa.select(envs.c.id, envs.c.name).where(envs.c.app_id == app_id).order_by(envs.c.id))
    return {int(env_id): name for env_id, name in rows}


def app_id_for_client_id(conn: sa.Connection, client_id: str) -> int | None:
    return conn.execute(sa.select(apps.c.id).where(apps.c.client_id == client_id)).scalar()


def ensure_env(conn: sa.Connection, app_id: int, name: str) -> int:
    """The id of the app's environment `name`, created on first sight."""
    query = sa.select(envs.c.id).where(envs.c.app_id == app_id, envs.c.name == name)
    env_id = conn.execute(query).scalar()
    if env_id is None:
        insert_ignore(
            conn, envs, {"app_id": app_id, "name": name, "created_at": time.time()}, ["app_id", "name"]
        )
        env_id = conn.execute(query).scalar_one()
    return int(env_id)


def env_id_for(conn: sa.Connection, app_id: int, name: str) -> int | None:
    return conn.execute(sa.select(envs.c.id).where(envs.c.app_id == app_id, envs.c.name == name)).scalar()
