"""A query's filters (env, consumer, group, method, path, status) resolved to the ids metric rows carry."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tallyhub.analytics.query import Filters, parse_status
from tallyhub.metrics.selection import Selection
from tallyhub.paths import InvalidPattern, compile_pattern, is_pattern, path_key, pattern_matches
from tallyhub.storage import endpoint_settings
from tallyhub.storage.apps import app_envs
from tallyhub.storage.tables import consumers, endpoints


def _pattern(path: str | None) -> list[re.Pattern[str] | None] | None:
    """The compiled wildcard pattern of a path filter; None for a plain route.

    The dashboard and the API refuse bad patterns when they parse (analytics.query); a path that
    reaches here unparsed (an alert rule's endpoint, say) and is no valid pattern matches exactly,
    as it did before wildcards existed.
    """
    if path is None or not is_pattern(path):
        return None
    try:
        return compile_pattern(path)
    except InvalidPattern:
        return None


def endpoint_ids(
    conn: sa.Connection, env_ids: tuple[int, ...], method: str | None, path: str | None
) -> tuple[int, ...] | None:
    """Ids of the endpoints matching method (any case) and path (any framework syntax, or a wildcard
    pattern: tallyhub.paths)."""
    if method is None and path is None:
        return None
    query = sa.select(endpoints.c.id, endpoints.c.path_key).where(endpoints.c.env_id.in_(env_ids))
    if method is not None:
        query = query.where(endpoints.c.method == method.strip().upper())
    compiled = _pattern(path)
    if compiled is not None:
        # Endpoints are capped per app (storage.caps), so matching their keys here reads a bounded
        # number of rows, and the metric rows are then selected by id as for any endpoint filter.
        rows = conn.execute(query.order_by(endpoints.c.id)).all()
        return tuple(int(row.id) for row in rows if pattern_matches(compiled, row.path_key))
    if path is not None:
        query = query.where(endpoints.c.path_key == path_key(path))
    return tuple(int(row.id) for row in conn.execute(query.order_by(endpoints.c.id)))


def consumer_ids(
    conn: sa.Connection, app_id: int, identifier: str | None, group: str | None
) -> tuple[int, ...] | None:
    """Ids of the app's consumers with that identifier and/or in that group."""
    if identifier is None and group is None:
        return None
    query = sa.select(consumers.c.id).where(consumers.c.app_id == app_id)
    if identifier is not None:
        query = query.where(consumers.c.identifier == identifier)
    if group is not None:
        query = query.where(consumers.c.group_name == group)
    return tuple(int(i) for i in conn.execute(query.order_by(consumers.c.id)).scalars())


def resolve(conn: sa.Connection, app_id: int, filters: Filters) -> Selection:
    """Look the parsed filters up for one app (unknown names resolve to no match)."""
    names = app_envs(conn, app_id)
    if filters.env is not None:
        names = {i: n for i, n in names.items() if n == filters.env}
    env_ids = tuple(names)
    return Selection(
        env_ids=env_ids,
        env_names=names,
        endpoint_ids=endpoint_ids(conn, env_ids, filters.method, filters.path),
        consumer_ids=consumer_ids(conn, app_id, filters.consumer, filters.group),
        status_range=parse_status(filters.status) if filters.status is not None else None,
        rules=endpoint_settings.rules(conn, app_id, env_ids),
    )
