"""Application log records of an app's logged requests, newest first, paged with `before` (a record id).

Read as the request logs are: each env apart along its (env_id, timestamp) index, or (env_id, level,
timestamp) / (env_id, logger, timestamp) when that filter is set, and the envs merged. Each record is
then joined to its request log (by request uuid for Hub v2, by trace id for OTLP) to link to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.query import check_text, text_param
from tallyhub.analytics.times import iso
from tallyhub.storage import text_search
from tallyhub.storage.tables import app_log_records, request_logs

MAX_MESSAGE_NEEDLE = 200
NAMES = ("level", "logger", "message")


@dataclasses.dataclass(frozen=True)
class AppLogFilters:
    """Narrowing of log records; None means "not filtered"."""

    level: str | None = None  # exactly, any case (stored upper case)
    logger: str | None = None  # exactly
    message: str | None = None  # substring, any case

    def params(self) -> list[tuple[str, str]]:
        """The set filters as query parameters, in a stable order."""
        return [(name, value) for name in NAMES if (value := getattr(self, name)) is not None]


def parse_app_log_filters(params: Mapping[str, str | None]) -> AppLogFilters:
    """The app-log filters among `params`; InvalidParameter names the first bad one."""
    level, logger, message = (text_param(params, name) for name in NAMES)
    check_text("level", level, 16)
    check_text("logger", logger, 200)
    check_text("message", message, MAX_MESSAGE_NEEDLE)
    return AppLogFilters(level.upper() if level else None, logger, message)


def _terms(
    conn: sa.Connection, start: float, end: float, filters: AppLogFilters, indexed: bool = True
) -> list[sa.ColumnElement[bool]]:
    """The WHERE terms (but the env); `indexed=False`: the message tested row by row (LIKE)."""
    c = app_log_records.c
    out: list[sa.ColumnElement[bool]] = [c.timestamp >= start, c.timestamp < end]
    if filters.level is not None:
        out.append(c.level == filters.level)
    if filters.logger is not None:
        out.append(c.logger == filters.logger)
    if filters.message is not None:
        out.append(_contains(conn, filters.message, indexed))
    return out


def _contains(conn: sa.Connection, needle: str, indexed: bool) -> sa.ColumnElement[bool]:
    """The message contains `needle`, any case, through the engine's text index when it can use one."""
    c = app_log_records.c
    if conn.dialect.name != "sqlite":
        return text_search.postgres_contains(c.message, needle)
    if indexed and len(needle) >= text_search.MIN_INDEXED:
        return text_search.sqlite_fts_match(c.id, "message", needle, text_search.APP_LOG_FTS_TABLE)
    return c.message.icontains(needle, autoescape=True)


PROBE_ROWS = 2000


def _env_rows(
    conn: sa.Connection,
    env_id: int,
    start: float,
    end: float,
    filters: AppLogFilters,
    keyset: list[sa.ColumnElement[bool]],
    limit: int,
) -> list[sa.Row]:
    """Up to `limit` records of one env matching the filters, newest first.

    On SQLite a message of 3+ characters is first looked for with LIKE among the env's newest PROBE_ROWS
    records: FTS5 answers a text found in most messages by listing every record that has it before a
    page can be taken (seconds at a million records). Only when those hold less than a page does the
    index answer (what it does fast: a text in few records). As request_logs._probe_bodies.
    """
    c = app_log_records.c

    def newest(terms: list[sa.ColumnElement[bool]]) -> list[sa.Row]:
        query = (
            sa.select(app_log_records)
            .where(c.env_id == env_id, *terms, *keyset)
            .order_by(c.timestamp.desc(), c.id.desc())
            .limit(limit)
        )
        return list(conn.execute(query))

    message = filters.message
    if conn.dialect.name == "sqlite" and message is not None and len(message) >= text_search.MIN_INDEXED:
        others = _terms(conn, start, end, dataclasses.replace(filters, message=None))
        window = (
            sa.select(c.id)
            .where(c.env_id == env_id, *others, *keyset)
            .order_by(c.timestamp.desc(), c.id.desc())
            .limit(PROBE_ROWS)
        )
        found = newest([c.id.in_(window), _contains(conn, message, indexed=False)])
        if len(found) >= limit:
            return found
    return newest(_terms(conn, start, end, filters))


def _anchor(conn: sa.Connection, before: int) -> sa.ColumnElement[bool]:
    # Keyset on (timestamp, id); the plain range on the timestamp lets the index start at the anchor.
    c = app_log_records.c
    at = conn.execute(sa.select(c.timestamp).where(c.id == before)).scalar()
    if at is None:
        return c.id < before
    return sa.and_(c.timestamp <= at, sa.or_(c.timestamp < at, c.id < before))


def list_app_logs(
    conn: sa.Connection,
    env_names: Mapping[int, str],
    start: float,
    end: float,
    limit: int,
    before: int | None,
    filters: AppLogFilters = AppLogFilters(),
) -> dict[str, Any]:
    """{"items": [...], "next_before": id of the last item when more may follow, else null}."""
    keyset = [_anchor(conn, before)] if before is not None else []
    rows: list[sa.Row] = []
    for env_id in env_names:
        rows.extend(_env_rows(conn, env_id, start, end, filters, keyset, limit + 1))
    rows.sort(key=lambda r: (r.timestamp, r.id), reverse=True)
    shown = rows[:limit]
    requests = requests_of(conn, shown)
    items = [
        {
            "id": row.id,
            "env": env_names[row.env_id],
            "timestamp": iso(row.timestamp),
            "level": row.level,
            "logger": row.logger,
            "message": row.message,
            "trace_id": row.trace_id,
            "request": requests.get(key) if (key := _key(row)) else None,
        }
        for row in shown
    ]
    return {"items": items, "next_before": shown[-1].id if len(rows) > limit else None}


def _key(row: Any) -> tuple[int, str, str] | None:
    if row.request_uuid:
        return (row.env_id, "uuid", row.request_uuid)
    if row.trace_id:
        return (row.env_id, "trace_id", row.trace_id)
    return None


def requests_of(conn: sa.Connection, rows: Sequence[Any]) -> dict[tuple[int, str, str], dict[str, Any]]:
    """The request log each row (with env_id, request_uuid, trace_id) names: {key: {id, method, url}}.

    Looked up by (env_id, uuid) or (env_id, trace_id), both indexed; a trace without a stored request
    log (its SERVER span not received, or aged out) has none.
    """
    wanted: dict[tuple[int, str], set[str]] = {}
    for row in rows:
        key = _key(row)
        if key is not None:
            wanted.setdefault(key[:2], set()).add(key[2])
    out: dict[tuple[int, str, str], dict[str, Any]] = {}
    r = request_logs.c
    for (env_id, column), values in wanted.items():
        query = (
            sa.select(r.id, r.uuid, r.trace_id, r.method, r.url, r.status_code)
            .where(r.env_id == env_id, r[column].in_(sorted(values)))
            .order_by(r.id)
        )
        for found in conn.execute(query):
            key = (env_id, column, found.uuid if column == "uuid" else found.trace_id)
            out.setdefault(
                key,
                {"id": found.id, "method": found.method, "url": found.url, "status_code": found.status_code},
            )
    return out
