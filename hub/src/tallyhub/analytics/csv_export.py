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


def _iso_ms(seconds: float) -> str:
    """ISO 8601 UTC to the millisecond (cheaper than datetime for a million rows)."""
    whole = int(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((seconds - whole) * 1000):03d}Z"


def request_log_rows(rows: Iterable[sa.Row], env_names: dict[int, str]) -> Iterator[tuple[Any, ...]]:
    """REQUEST_LOG_HEADER's cells of rows read with request_logs.EXPORT_COLUMNS."""
    for r in rows:
        yield (
            r.id,
            _iso_ms(r.timestamp),
            env_names[r.env_id],
            r.method,
            r.url,
            r.path,
            r.status_code,
            round(r.response_time * 1000, 3),
            r.request_size,
            r.response_size,
            r.identifier,
            r.client_ip,
            r.exception_type,
            r.trace_id,
        )


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
