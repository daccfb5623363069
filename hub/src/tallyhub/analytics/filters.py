"""Query filters (env, consumer, group, method, path, status) resolved to the ids metric rows carry."""

from __future__ import annotations

import dataclasses
import re

import sqlalchemy as sa

from tallyhub.analytics.invalid import InvalidParameter
from tallyhub.identifiers import is_valid_env
from tallyhub.metrics.selection import Selection
from tallyhub.paths import path_key
from tallyhub.storage.apps import app_envs
from tallyhub.storage.tables import consumers, endpoints

_STATUS = re.compile(r"^([1-5])(?:xx|XX|(\d\d))$")


@dataclasses.dataclass(frozen=True)
class Filters:
    """Filters as given in the query string; None means "not filtered"."""

    env: str | None = None
    consumer: str | None = None
    group: str | None = None
    method: str | None = None
    path: str | None = None
    status: str | None = None


def parse_status(value: str) -> tuple[int, int]:
    """ "404" -> (404, 404); "4xx" -> (400, 499)."""
    match = _STATUS.fullmatch(value.strip())
    if match is None:
        raise InvalidParameter("status", "a status code such as 404, or a class such as 4xx", value)
    if match.group(2) is None:
        base = int(match.group(1)) * 100
        return base, base + 99
    code = int(value.strip())
    return code, code


def check_text(param: str, value: str | None, max_length: int) -> None:
    """Reject values no row can hold (too long, or with NUL, which PostgreSQL refuses in text)."""
    if value is None:
        return
    if len(value) > max_length:
        raise InvalidParameter(param, f"at most {max_length} characters", value)
    if "\x00" in value:
        raise InvalidParameter(param, "must not contain NUL characters", value)


def validate(filters: Filters) -> None:
    """Raise InvalidParameter for malformed filter values (before any query runs)."""
    if filters.env is not None and not is_valid_env(filters.env):
        raise InvalidParameter("env", "1-32 letters, digits, '_' or '-'", filters.env)
    check_text("consumer", filters.consumer, 128)
    check_text("group", filters.group, 64)
    check_text("method", filters.method, 16)
    check_text("path", filters.path, 1000)
    if filters.status is not None:
        parse_status(filters.status)


def endpoint_ids(
    conn: sa.Connection, env_ids: tuple[int, ...], method: str | None, path: str | None
) -> tuple[int, ...] | None:
    """Ids of the endpoints matching method (any case) and path (any framework syntax)."""
    if method is None and path is None:
        return None
    query = sa.select(endpoints.c.id).where(endpoints.c.env_id.in_(env_ids))
    if method is not None:
        query = query.where(endpoints.c.method == method.strip().upper())
    if path is not None:
        query = query.where(endpoints.c.path_key == path_key(path))
    return tuple(int(i) for i in conn.execute(query.order_by(endpoints.c.id)).scalars())


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
    """Look the filters up for one app (validate() first; unknown names resolve to no match)."""
    validate(filters)
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
    )
