"""Cardinality caps per app: how many distinct consumers, endpoints and environments it may have.

Past a cap, a new key is stored under the app's "other" bucket of that kind (a consumer, an endpoint
per environment, an environment, each with a reserved name), so requests stay in every total while
the number of rows stays bounded. The first time a cap is hit is kept in `cap_hits` for the settings
page. Writers that may add keys lock the app's row first (FOR NO KEY UPDATE on PostgreSQL, which
inserts referencing the app do not wait for; SQLite has one writer anyway), so the count they
admit against holds across hub processes.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from tallyhub.identifiers import OTHER_ENV
from tallyhub.storage.tables import apps, cap_hits, consumers, endpoints, envs
from tallyhub.storage.upsert import insert_ignore

CONSUMERS, ENDPOINTS, ENVS = "consumers", "endpoints", "envs"
KINDS = (CONSUMERS, ENDPOINTS, ENVS)
# Reserved keys of the "other" buckets. Env names that clients send never have parentheses
# (identifiers.is_valid_env), so "(other)" cannot be a real environment.
OTHER_CONSUMER = "(other consumers)"
OTHER_METHOD, OTHER_PATH = "OTHER", "(other endpoints)"
OTHER_LABELS = {CONSUMERS: OTHER_CONSUMER, ENDPOINTS: f"{OTHER_METHOD} {OTHER_PATH}", ENVS: OTHER_ENV}


@dataclasses.dataclass(frozen=True)
class Caps:
    """The caps of every app (settings max_*_per_app)."""

    consumers: int = 50_000
    endpoints: int = 2_000
    envs: int = 20

    def of(self, kind: str) -> int:
        value: int = getattr(self, kind)
        return value


def lock_app(conn: sa.Connection, app_id: int) -> None:
    """Hold the app's row until the transaction ends, so one writer at a time counts and adds keys."""
    conn.execute(sa.select(apps.c.id).where(apps.c.id == app_id).with_for_update(key_share=True))


def record_hit(conn: sa.Connection, app_id: int, kind: str, now: float) -> None:
    """Remember that the app's `kind` cap was hit (the first time is kept)."""
    insert_ignore(conn, cap_hits, {"app_id": app_id, "kind": kind, "since": now}, ["app_id", "kind"])


def hits(conn: sa.Connection, app_id: int) -> dict[str, float]:
    """Since when each cap the app hit has been hit (kinds never hit are absent)."""
    rows = conn.execute(sa.select(cap_hits.c.kind, cap_hits.c.since).where(cap_hits.c.app_id == app_id))
    return {kind: float(since) for kind, since in rows}


def consumer_count(conn: sa.Connection, app_id: int) -> int:
    """The app's consumers, its "other" bucket left out."""
    query = sa.select(sa.func.count()).where(
        consumers.c.app_id == app_id, consumers.c.identifier != OTHER_CONSUMER
    )
    return int(conn.execute(query).scalar_one())


def _app_endpoints() -> sa.Select:
    return sa.select(endpoints.c.method, endpoints.c.path_key).join(envs, envs.c.id == endpoints.c.env_id)


def endpoint_count(conn: sa.Connection, app_id: int) -> int:
    """Distinct (method, path key) among the app's environments, its "other" buckets left out."""
    keys = (
        _app_endpoints().where(envs.c.app_id == app_id, endpoints.c.path != OTHER_PATH).distinct().subquery()
    )
    return int(conn.execute(sa.select(sa.func.count()).select_from(keys)).scalar_one())


def known_endpoint_keys(conn: sa.Connection, app_id: int, path_keys: list[str]) -> set[tuple[str, str]]:
    """Which of these path keys (with their methods) the app has in any environment."""
    query = _app_endpoints().where(envs.c.app_id == app_id, endpoints.c.path_key.in_(path_keys))
    return {(row.method, row.path_key) for row in conn.execute(query)}


def env_count(conn: sa.Connection, app_id: int) -> int:
    """The app's environments, its "other" environment left out."""
    query = sa.select(sa.func.count()).where(envs.c.app_id == app_id, envs.c.name != OTHER_ENV)
    return int(conn.execute(query).scalar_one())
