"""Request logs of an app, newest first, paged with `before` (the id of the last item of a page).

Each env is read apart, newest first along its (env_id, timestamp) index, and the envs merged: with
all envs selected, one query ordered by time would sort every row of the range.
"""

from __future__ import annotations

import base64
import dataclasses
import heapq
import itertools
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from tallyhub.analytics import traces
from tallyhub.analytics.log_query import LogFilters
from tallyhub.analytics.times import iso
from tallyhub.metrics.selection import Selection
from tallyhub.storage import text_search
from tallyhub.storage.database import Database
from tallyhub.storage.tables import TEXT_BODIES, consumers, request_logs

DETAIL_KEYS = (
    "request_headers",
    "request_body",
    "response_headers",
    "response_body",
    "exception",
    "client_ip",
    "logs",
    "spans",
)
NO_LOG_FILTERS = LogFilters()
# What the list and the detail show (the copies of details' fields are read from details there; the body
# texts are read for the bodies that details does not keep, TEXT_BODIES).
_LIST_COLUMNS = [c for c in request_logs.c if c.name not in ("client_ip", "exception_type")]


def _contains(conn: sa.Connection, column: sa.Column[Any], needle: str) -> sa.ColumnElement[bool]:
    """`column` contains `needle`, any case, through the engine's text index when it can use one."""
    if conn.dialect.name == "sqlite":
        if len(needle) >= text_search.MIN_INDEXED:
            return text_search.sqlite_fts_match(request_logs.c.id, column.name, needle)
        return column.icontains(needle, autoescape=True)
    return text_search.postgres_contains(column, needle)


def conditions(
    conn: sa.Connection,
    resolved: Selection,
    start: float,
    end: float,
    method: str | None,
    logs: LogFilters,
) -> list[sa.ColumnElement[bool]] | None:
    """The WHERE terms (but the env) of the filters; None when nothing can match."""
    if not resolved.env_ids or resolved.endpoint_ids == () or resolved.consumer_ids == ():
        return None
    c = request_logs.c
    out: list[sa.ColumnElement[bool]] = [c.timestamp >= start, c.timestamp < end]
    if resolved.endpoint_ids is not None:
        out.append(c.endpoint_id.in_(resolved.endpoint_ids))
    if method is not None:
        # The logged method (any case), so requests to unknown routes match it too.
        out.append(sa.func.upper(c.method) == method.strip().upper())
    if resolved.consumer_ids is not None:
        out.append(c.consumer_id.in_(resolved.consumer_ids))
    if resolved.status_range is not None:
        out.append(c.status_code.between(*resolved.status_range))
    if logs.client_ip is not None:
        out.append(c.client_ip == logs.client_ip)
    if logs.url is not None:
        out.append(c.url.icontains(logs.url, autoescape=True))
    if logs.request_body is not None:
        out.append(_contains(conn, c.request_body_text, logs.request_body))
    if logs.response_body is not None:
        out.append(_contains(conn, c.response_body_text, logs.response_body))
    for column, low, high in (
        (c.request_size, logs.request_size_min, logs.request_size_max),
        (c.response_size, logs.response_size_min, logs.response_size_max),
    ):
        if low is not None:
            out.append(column >= low)
        if high is not None:
            out.append(column <= high)
    if logs.response_time_min is not None:
        out.append(c.response_time >= logs.response_time_min / 1000)
    if logs.response_time_max is not None:
        out.append(c.response_time <= logs.response_time_max / 1000)
    if logs.has_exception is not None:
        # ->> of a JSON null is SQL NULL on both engines.
        present = c.details["exception"].as_string().is_not(None)
        out.append(present if logs.has_exception else sa.not_(present))
    if logs.trace_id is not None:
        out.append(c.trace_id == logs.trace_id)
    return out


def _older_than(timestamp: float, row_id: int) -> sa.ColumnElement[bool]:
    # Keyset paging on (timestamp, id), so pages neither skip nor repeat items. The plain range on the
    # timestamp is what lets the (env_id, timestamp) index start at the anchor (an OR alone does not).
    c = request_logs.c
    return sa.and_(c.timestamp <= timestamp, sa.or_(c.timestamp < timestamp, c.id < row_id))


def _newest(
    conn: sa.Connection,
    columns: Sequence[Any],
    env_ids: Sequence[int],
    terms: list[sa.ColumnElement[bool]],
    limit: int,
) -> list[sa.Row]:
    """Up to `limit` rows matching `terms`, newest first across `env_ids` (one index walk per env)."""
    rows: list[sa.Row] = []
    for env_id in env_ids:
        query = (
            sa.select(*columns)
            .select_from(request_logs.outerjoin(consumers, consumers.c.id == request_logs.c.consumer_id))
            .where(request_logs.c.env_id == env_id, *terms)
            .order_by(request_logs.c.timestamp.desc(), request_logs.c.id.desc())
            .limit(limit)
        )
        rows.extend(conn.execute(query).all())
    rows.sort(key=lambda r: (r.timestamp, r.id), reverse=True)
    return rows[:limit]


def list_request_logs(
    conn: sa.Connection,
    resolved: Selection,
    start: float,
    end: float,
    limit: int,
    before: int | None,
    method: str | None = None,
    logs: LogFilters = NO_LOG_FILTERS,
) -> dict[str, Any]:
    """{"items": [...], "next_before": id of the last item when more may follow, else null}.

    `method` is matched on the logged method (any case), so requests to unknown routes still match it;
    a path filter arrives resolved to endpoint ids.
    """
    terms = conditions(conn, resolved, start, end, method, logs)
    if terms is None:
        return {"items": [], "next_before": None}
    if before is not None:
        # Within the range: on PostgreSQL only its day slices are read (storage/partitions.py).
        anchor = conn.execute(
            sa.select(request_logs.c.timestamp).where(request_logs.c.id == before, *terms[:2])
        ).scalar()
        terms.append(request_logs.c.id < before if anchor is None else _older_than(anchor, before))
    columns = [*_LIST_COLUMNS, consumers.c.identifier]
    rows = _probe_bodies(
        conn, columns, resolved, start, end, method, logs, terms[-1:] if before else [], limit + 1
    )
    if rows is None:
        rows = _newest(conn, columns, resolved.env_ids, terms, limit + 1)
    items = [_item(row, resolved.env_names) for row in rows[:limit]]
    traces.join(conn, rows[:limit], items)
    return {"items": items, "next_before": items[-1]["id"] if len(rows) > limit else None}


PROBE_ROWS = 2000


def _probe_bodies(
    conn: sa.Connection,
    columns: Sequence[Any],
    resolved: Selection,
    start: float,
    end: float,
    method: str | None,
    logs: LogFilters,
    keyset: list[sa.ColumnElement[bool]],
    limit: int,
) -> list[sa.Row] | None:
    """SQLite's body search for a page: the newest PROBE_ROWS rows of each env checked with LIKE.

    FTS5 answers a needle found in most bodies by listing every matching row before the page can be
    taken (seconds at a few 100,000 rows); the newest rows, checked one by one, hold a page of such
    a needle. When an env's newest rows hold fewer than `limit` matches, None: the index answers.
    """
    if conn.dialect.name != "sqlite" or not any(
        needle is not None and len(needle) >= text_search.MIN_INDEXED
        for needle in (logs.request_body, logs.response_body)
    ):
        return None
    others = conditions(
        conn, resolved, start, end, method, dataclasses.replace(logs, request_body=None, response_body=None)
    )
    if others is None:
        return None
    c = request_logs.c
    likes = [
        column.icontains(needle, autoescape=True)
        for column, needle in (
            (c.request_body_text, logs.request_body),
            (c.response_body_text, logs.response_body),
        )
        if needle is not None
    ]
    rows: list[sa.Row] = []
    for env_id in resolved.env_ids:
        window = (
            sa.select(c.id)
            .where(c.env_id == env_id, *others, *keyset)
            .order_by(c.timestamp.desc(), c.id.desc())
            .limit(PROBE_ROWS)
        )
        found = _newest(conn, columns, (env_id,), [c.id.in_(window), *likes], limit)
        if len(found) < limit:
            return None
        rows.extend(found)
    rows.sort(key=lambda r: (r.timestamp, r.id), reverse=True)
    return rows[:limit]


def get_request_log(conn: sa.Connection, env_names: dict[int, str], log_id: int) -> dict[str, Any] | None:
    """One logged request of the given envs with its details and trace; None when it is not theirs."""
    row = conn.execute(
        sa.select(*_LIST_COLUMNS, consumers.c.identifier)
        .select_from(request_logs.outerjoin(consumers, consumers.c.id == request_logs.c.consumer_id))
        .where(request_logs.c.id == log_id, request_logs.c.env_id.in_(tuple(env_names)))
    ).first()
    if row is None:
        return None
    item = _item(row, env_names)
    traces.join(conn, [row], [item])
    return item


EXPORT_COLUMNS = (
    request_logs.c.id,
    request_logs.c.env_id,
    request_logs.c.timestamp,
    request_logs.c.method,
    request_logs.c.url,
    request_logs.c.path,
    request_logs.c.status_code,
    request_logs.c.response_time,
    request_logs.c.request_size,
    request_logs.c.response_size,
    consumers.c.identifier,
    request_logs.c.client_ip,
    request_logs.c.exception_type,
    request_logs.c.trace_id,
)


EXPORT_BATCH = 10_000


def iter_export_batches(
    db: Database,
    app_resolved: Selection,
    terms: list[sa.ColumnElement[bool]],
    max_rows: int,
    batch: int | None = None,
) -> Iterator[list[sa.Row]]:
    """Up to `max_rows` rows (EXPORT_COLUMNS) newest first, in lists of up to `batch` rows (default
    EXPORT_BATCH, read at each call), each read in a short read transaction, the next one while the
    caller handles the current one.

    A read transaction per batch: an export of a million rows holds no snapshot (nor SQLite's WAL)
    for its whole download. Lists rather than rows: the CSV writer formats a list at a time.
    """
    return read_ahead(_export_batches(db, app_resolved, terms, max_rows, batch or EXPORT_BATCH))


def _export_batches(
    db: Database,
    app_resolved: Selection,
    terms: list[sa.ColumnElement[bool]],
    max_rows: int,
    batch: int,
) -> Iterator[list[sa.Row]]:
    envs = [_env_batches(db, env_id, terms, batch) for env_id in app_resolved.env_ids]
    if len(envs) == 1:
        batches = envs[0]
    else:
        # Each env's rows are newest first: merged, they are newest first across envs.
        merged = heapq.merge(*(_flat(e) for e in envs), key=_export_order, reverse=True)
        batches = iter(lambda: list(itertools.islice(merged, batch)), [])
    left = max_rows
    for rows in batches:
        if left <= len(rows):
            if left:
                yield rows[:left]
            return
        left -= len(rows)
        yield rows


_DONE = object()
_Batch = TypeVar("_Batch")


def read_ahead(batches: Iterator[_Batch]) -> Iterator[_Batch]:
    """`batches` as they come, read by a thread of their own one batch ahead of the caller.

    Reading (the driver's fetch, and on PostgreSQL the server's query) then overlaps the caller's
    formatting of the batch before instead of alternating with it: an export's wall time is the larger
    of the two, not their sum. At most two batches wait beside the one the caller holds. When the
    caller stops early (a closed download), the thread stops after the read it is in.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for rows in batches:
                if not hand_over(rows):
                    return
            hand_over(_DONE)
        except Exception as exc:  # raised again in the caller's thread
            hand_over(exc)
        finally:
            batches.close()  # type: ignore[attr-defined]

    reader = threading.Thread(target=read, name="request-log-export", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _export_order(row: sa.Row) -> tuple[float, int]:
    return (row.timestamp, row.id)


def _flat(batches: Iterator[list[sa.Row]]) -> Iterator[sa.Row]:
    for rows in batches:
        yield from rows


def _env_batches(
    db: Database, env_id: int, terms: list[sa.ColumnElement[bool]], batch: int
) -> Iterator[list[sa.Row]]:
    """One env's rows matching `terms`, newest first, `batch` at a time (keyset on timestamp and id)."""
    extra: list[sa.ColumnElement[bool]] = []
    while True:
        query = (
            sa.select(*EXPORT_COLUMNS)
            .select_from(request_logs.outerjoin(consumers, consumers.c.id == request_logs.c.consumer_id))
            .where(request_logs.c.env_id == env_id, *terms, *extra)
            .order_by(request_logs.c.timestamp.desc(), request_logs.c.id.desc())
            .limit(batch)
        )
        with db.read() as conn:
            rows = list(conn.execute(query).all())  # one fetchall: not a fetchone per row
        if rows:
            yield rows
        if len(rows) < batch:
            return
        extra = [_older_than(rows[-1].timestamp, rows[-1].id)]


def _item(row: sa.Row, env_names: dict[int, str]) -> dict[str, Any]:
    details = row.details if isinstance(row.details, dict) else {}
    if TEXT_BODIES in details:
        details = {**details, **_text_bodies(row, details[TEXT_BODIES])}
    return {
        "id": row.id,
        "uuid": row.uuid,
        "env": env_names[row.env_id],
        "timestamp": iso(row.timestamp),
        "method": row.method,
        "path": row.path,
        "url": row.url,
        "status_code": row.status_code,
        "response_time": row.response_time,
        "consumer": row.identifier,
        "request_size": row.request_size,
        "response_size": row.response_size,
        "trace_id": row.trace_id,
        "details": {key: details.get(key) for key in DETAIL_KEYS},
    }


def _text_bodies(row: sa.Row, names: Any) -> dict[str, str | None]:
    """The bodies that `row` keeps only as text, base64 again as the client sent them."""
    out: dict[str, str | None] = {}
    for name in names if isinstance(names, list) else ():
        text = getattr(row, f"{name}_text", None) if name in ("request_body", "response_body") else None
        out[name] = base64.b64encode(text.encode()).decode("ascii") if isinstance(text, str) else None
    return out
