"""CSV of request logs and of traffic, written a chunk at a time, cells escaped against formula injection.

A spreadsheet runs a cell starting with = + - @ (or a tab or carriage return, which some strip before
looking) as a formula; such a cell is prefixed with an apostrophe, which spreadsheets show as text.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.analytics import request_log_csv_pg, request_logs
from tallyhub.metrics.selection import Selection
from tallyhub.storage.database import Database

MAX_ROWS = 1_000_000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ROWS_PER_CHUNK = 2000
REQUEST_LOG_HEADER = (
    "id",
    "time",
    "env",
    "method",
    "url",
    "endpoint",
    "status_code",
    "response_time_ms",
    "request_size",
    "response_size",
    "consumer",
    "client_ip",
    "exception_type",
    "trace_id",
)


def escape_cell(value: Any) -> str:
    """The cell's text; text that a spreadsheet would run as a formula is prefixed with an apostrophe.

    Numbers are written as numbers (a negative number is data, not a formula).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def write_rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV text (header first), a chunk of rows at a time, every cell through escape_cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for count, row in enumerate(rows, 1):
        writer.writerow([escape_cell(v) for v in row])
        if count % _ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def request_logs_csv(batches: Iterable[Sequence[sa.Row]], env_names: dict[int, str]) -> Iterator[str]:
    """The CSV of rows read with request_logs.EXPORT_COLUMNS, a chunk per batch of rows: the same text
    as write_rows(REQUEST_LOG_HEADER, ...) of each row's cells (a test checks), at a few times its speed:
    the time as ISO 8601 UTC to the millisecond, the env's name, the response time in ms rounded to 3 places.

    What makes the difference, per row: one tuple, no call for the cells that cannot start a formula
    (numbers, which the csv module writes as escape_cell does; the time), the time to the second made
    once per second (its date once a day), and writerows per batch.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REQUEST_LOG_HEADER)
    envs = {env_id: escape_cell(name) for env_id, name in env_names.items()}
    days: dict[int, str] = {}
    second, date_time = -1, ""
    starts = _FORMULA_STARTS  # a local: read a million times
    # A text cell is escaped as escape_cell does, written inline (a call per cell costs a fifth of the
    # time); None stays None, which the csv module writes as escape_cell's "".
    for rows in batches:
        lines = []
        for (
            row_id,
            env_id,
            seconds,
            method,
            url,
            path,
            status,
            response_time,
            request_size,
            response_size,
            consumer,
            client_ip,
            exception_type,
            trace_id,
        ) in rows:
            whole = int(seconds)
            if whole != second:  # rows come newest first: a busy app's rows share their second
                second, date_time = whole, _to_the_second(whole, days)
            lines.append(
                (
                    row_id,
                    f"{date_time}.{int((seconds - whole) * 1000):03d}Z",
                    envs[env_id],
                    "'" + method if method and method.startswith(starts) else method,
                    "'" + url if url and url.startswith(starts) else url,
                    "'" + path if path and path.startswith(starts) else path,
                    status,
                    round(response_time * 1000, 3),
                    request_size,
                    response_size,
                    "'" + consumer if consumer and consumer.startswith(starts) else consumer,
                    "'" + client_ip if client_ip and client_ip.startswith(starts) else client_ip,
                    "'" + exception_type
                    if exception_type and exception_type.startswith(starts)
                    else exception_type,
                    "'" + trace_id if trace_id and trace_id.startswith(starts) else trace_id,
                )
            )
        writer.writerows(lines)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if header := buffer.getvalue():  # no batch: the header alone
        yield header


def request_logs_csv_bytes(
    db: Database, resolved: Selection, terms: list[sa.ColumnElement[bool]] | None
) -> Iterator[bytes]:
    """The CSV download of the request logs matching `terms` (None: nothing matches), newest first, up
    to MAX_ROWS rows, a chunk per export batch (request_logs.EXPORT_BATCH rows; request_log_csv_pg.BATCH
    on PostgreSQL), read one batch ahead.

    On PostgreSQL the server writes the CSV (request_log_csv_pg, the same bytes); on SQLite
    request_logs_csv formats the rows that request_logs.iter_export_batches reads.
    """
    if terms is None or db.is_sqlite:
        batches = request_logs.iter_export_batches(db, resolved, terms, MAX_ROWS) if terms is not None else ()
        return (chunk.encode() for chunk in request_logs_csv(batches, resolved.env_names))
    cells = {env_id: escape_cell(name) or None for env_id, name in resolved.env_names.items()}
    lines = request_log_csv_pg.csv_batches(db, resolved, terms, cells, MAX_ROWS, request_log_csv_pg.BATCH)
    return _after_header(request_logs.read_ahead(lines))


def _after_header(lines: Iterator[bytes]) -> Iterator[bytes]:
    yield ",".join(REQUEST_LOG_HEADER).encode() + b"\r\n"  # the header's names need no quoting
    yield from lines


def _to_the_second(whole: int, days: dict[int, str]) -> str:
    """`whole` seconds since the epoch as ISO 8601 UTC to the second, without the zone; `days` caches
    the dates."""
    day, rest = divmod(whole, 86400)
    date = days.get(day)
    if date is None:
        date = days[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{date}{hours:02d}:{minutes:02d}:{secs:02d}"


TRAFFIC_FIELDS = (
    "requests",
    "requests_4xx",
    "requests_5xx",
    "error_rate",
    "bytes_received",
    "bytes_sent",
    "p50",
    "p95",
    "p99",
    "apdex",
)


def traffic_series_csv(series: Sequence[dict[str, Any]]) -> Iterator[str]:
    """The traffic series as CSV: one line per bucket."""
    return write_rows(
        ("time", *TRAFFIC_FIELDS), ([p["time"], *(p.get(f) for f in TRAFFIC_FIELDS)] for p in series)
    )


def traffic_endpoints_csv(listed: Sequence[dict[str, Any]]) -> Iterator[str]:
    """The traffic page's endpoints table as CSV: one line per endpoint."""
    fields = ("method", "path", *TRAFFIC_FIELDS)
    return write_rows(fields, ([e.get(f) for f in fields] for e in listed))
