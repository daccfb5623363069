"""Endpoint settings of an app (per method and path, in every env) and the app's own Apdex T.

The dashboard and the read API change them through `update` and `set_app_apdex_t`, which check every
value first (InvalidSetting names the field); the read side turns them into `rules` for the endpoint
ids of a query's envs, and ingestion asks `excluded` which endpoints' traffic to drop.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from tallyhub.paths import path_key
from tallyhub.storage.tables import apps, endpoint_settings, endpoints, envs
from tallyhub.storage.upsert import insert_ignore

# An expected status is an error status: counting a 2xx as a success changes nothing.
MIN_EXPECTED, MAX_EXPECTED = 400, 599
MAX_EXPECTED_COUNT = 50
# The read API's apdex_t parameter takes the same range (api/params.py).
MIN_APDEX_T, MAX_APDEX_T = 1, 600_000


class InvalidSetting(ValueError):
    """A setting's value is refused; `field` names it for the 4xx answer or the form."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclasses.dataclass(frozen=True)
class EndpointSettings:
    """What is set for one endpoint; the defaults are an endpoint nobody configured."""

    method: str
    path_key: str
    expected_statuses: tuple[int, ...] = ()
    apdex_threshold_ms: int | None = None
    excluded: bool = False
    hidden: bool = False


def check_expected(values: Iterable[Any]) -> tuple[int, ...]:
    """Distinct error status codes (400-599), sorted; anything else is refused by name."""
    codes: set[int] = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidSetting("expected_statuses", f"{value!r} is not a status code (a number)")
        if not MIN_EXPECTED <= value <= MAX_EXPECTED:
            raise InvalidSetting(
                "expected_statuses",
                f"{value} is not an error status code ({MIN_EXPECTED}-{MAX_EXPECTED})",
            )
        codes.add(value)
    if len(codes) > MAX_EXPECTED_COUNT:
        raise InvalidSetting("expected_statuses", f"at most {MAX_EXPECTED_COUNT} status codes")
    return tuple(sorted(codes))


def parse_expected(text: str) -> tuple[int, ...]:
    """Status codes as a person types them: "404, 409" (commas or blanks between)."""
    values: list[Any] = []
    for part in text.replace(",", " ").split():
        values.append(int(part) if part.isdigit() else part)
    return check_expected(values)


def check_apdex_t(value: Any) -> int | None:
    """An Apdex T in whole ms (None: not set); T <= 0, fractions and huge values are refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSetting("apdex_threshold_ms", f"{value!r} is not a whole number of milliseconds")
    if not MIN_APDEX_T <= value <= MAX_APDEX_T:
        raise InvalidSetting("apdex_threshold_ms", f"must be from {MIN_APDEX_T} to {MAX_APDEX_T} ms")
    return value


def _flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidSetting(field, f"{value!r} is not true or false")
    return value


def _checked(changes: Mapping[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "expected_statuses":
            if not isinstance(value, list | tuple):
                raise InvalidSetting(field, "a list of status codes")
            checked[field] = list(check_expected(value))
        elif field == "apdex_threshold_ms":
            checked[field] = check_apdex_t(value)
        elif field in ("excluded", "hidden"):
            checked[field] = _flag(field, value)
        else:
            raise InvalidSetting(field, "not an endpoint setting")
    return checked


def _settings(row: Any) -> EndpointSettings:
    return EndpointSettings(
        row.method,
        row.path_key,
        tuple(int(c) for c in row.expected_statuses or ()),
        row.apdex_threshold_ms,
        bool(row.excluded),
        bool(row.hidden),
    )


def endpoint_key(method: str, path: str) -> tuple[str, str]:
    """(METHOD, path key): how settings name an endpoint, whatever the framework's path syntax."""
    return method.strip().upper(), path_key(path)


def endpoint_known(conn: sa.Connection, app_id: int, method: str, path: str) -> bool:
    """Whether any env of the app has seen the endpoint (only those can be configured)."""
    verb, key = endpoint_key(method, path)
    query = (
        sa.select(endpoints.c.id)
        .join(envs, envs.c.id == endpoints.c.env_id)
        .where(envs.c.app_id == app_id, endpoints.c.method == verb, endpoints.c.path_key == key)
        .limit(1)
    )
    return conn.execute(query).first() is not None


def get(conn: sa.Connection, app_id: int, method: str, path: str) -> EndpointSettings:
    """The endpoint's settings (the defaults when nothing was set)."""
    verb, key = endpoint_key(method, path)
    row = conn.execute(
        sa.select(endpoint_settings).where(
            endpoint_settings.c.app_id == app_id,
            endpoint_settings.c.method == verb,
            endpoint_settings.c.path_key == key,
        )
    ).first()
    return _settings(row) if row is not None else EndpointSettings(verb, key)


def of_app(conn: sa.Connection, app_id: int) -> dict[tuple[str, str], EndpointSettings]:
    """Every configured endpoint of the app, by (METHOD, path key)."""
    rows = conn.execute(sa.select(endpoint_settings).where(endpoint_settings.c.app_id == app_id)).all()
    return {(r.method, r.path_key): _settings(r) for r in rows}


def update(
    conn: sa.Connection, app_id: int, method: str, path: str, changes: Mapping[str, Any]
) -> EndpointSettings:
    """Set the given fields (others keep their value), after checking them all; returns the result."""
    checked = _checked(changes)
    verb, key = endpoint_key(method, path)
    now = time.time()
    insert_ignore(
        conn,
        endpoint_settings,
        {"app_id": app_id, "method": verb, "path_key": key, "expected_statuses": [], "updated_at": now},
        ["app_id", "method", "path_key"],
    )
    conn.execute(
        endpoint_settings.update()
        .where(
            endpoint_settings.c.app_id == app_id,
            endpoint_settings.c.method == verb,
            endpoint_settings.c.path_key == key,
        )
        .values(**checked, updated_at=now)
    )
    return get(conn, app_id, method, path)


def app_apdex_t(conn: sa.Connection, app_id: int) -> int | None:
    """The app's own Apdex T in ms; None when it uses the hub's setting."""
    value = conn.execute(sa.select(apps.c.apdex_threshold_ms).where(apps.c.id == app_id)).scalar()
    return int(value) if value is not None else None


def set_app_apdex_t(conn: sa.Connection, app_id: int, value: Any) -> int | None:
    """Set (or with None clear) the app's own Apdex T, checked as an endpoint's is."""
    checked = check_apdex_t(value)
    conn.execute(apps.update().where(apps.c.id == app_id).values(apdex_threshold_ms=checked))
    return checked


@dataclasses.dataclass(frozen=True)
class Rules:
    """The settings that change figures, as the endpoint ids of some envs carry them."""

    expected: frozenset[tuple[int, int]]  # (endpoint id, status code) counted as a success
    apdex_t: Mapping[int, int]  # endpoint id -> its own Apdex T in ms
    app_apdex_t: int | None
    hidden: frozenset[int] = frozenset()  # endpoint ids left out of lists by default
    excluded: frozenset[int] = frozenset()  # endpoint ids whose traffic is no longer stored


def rules(conn: sa.Connection, app_id: int, env_ids: tuple[int, ...]) -> Rules:
    """The settings of the app's endpoints in these envs, by endpoint id."""
    expected: set[tuple[int, int]] = set()
    own: dict[int, int] = {}
    hidden: set[int] = set()
    excluded_ids: set[int] = set()
    if env_ids:
        s = endpoint_settings.c
        query = (
            sa.select(endpoints.c.id, s.expected_statuses, s.apdex_threshold_ms, s.hidden, s.excluded)
            .join(endpoints, sa.and_(endpoints.c.method == s.method, endpoints.c.path_key == s.path_key))
            .where(s.app_id == app_id, endpoints.c.env_id.in_(env_ids))
        )
        for endpoint_id, codes, apdex_t, is_hidden, is_excluded in conn.execute(query):
            expected.update((int(endpoint_id), int(code)) for code in codes or ())
            if apdex_t is not None:
                own[int(endpoint_id)] = int(apdex_t)
            if is_hidden:
                hidden.add(int(endpoint_id))
            if is_excluded:
                excluded_ids.add(int(endpoint_id))
    return Rules(
        frozenset(expected), own, app_apdex_t(conn, app_id), frozenset(hidden), frozenset(excluded_ids)
    )


# Paths that are usually health checks or metrics scrapes: suggested for exclusion when first seen.
_PROBE_SEGMENTS = frozenset(
    {"health", "healthz", "healthcheck", "livez", "readyz", "ready", "live", "ping", "metrics", "status"}
)


def suggest_exclusion(key: str) -> bool:
    """Whether a path key looks like a probe (/healthz, /api/health, /metrics, …) rather than the API."""
    last = key.rstrip("/").rsplit("/", 1)[-1].lower()
    return last in _PROBE_SEGMENTS or last.startswith("_health")


def excluded(conn: sa.Connection, app_id: int) -> frozenset[tuple[str, str]]:
    """(METHOD, path key) of the app's endpoints whose traffic is no longer stored."""
    return frozenset((method, key) for method, key in conn.execute(_EXCLUDED, {"app_id": app_id}))


# Built once: this runs in every ingest transaction, and building the query cost more than running it.
_EXCLUDED = sa.select(endpoint_settings.c.method, endpoint_settings.c.path_key).where(
    endpoint_settings.c.app_id == sa.bindparam("app_id", type_=sa.Integer),
    endpoint_settings.c.excluded == sa.true(),
)
