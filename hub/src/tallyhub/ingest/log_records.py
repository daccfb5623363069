"""App-log and span rows of a batch: each log record and span of its logged requests and trace items.

They are what the application-logs and traces pages read (storage.tables.app_log_records,
span_records); the request log's `details` (and trace_items) keep the full records for its detail view.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import sqlalchemy as sa

from tallyhub.ingest.batch import AppLog, Batch, Span
from tallyhub.storage import bulk, span_bins, span_hours
from tallyhub.storage.tables import app_log_records, request_logs, span_records

LOG_COLUMNS = ("env_id", "timestamp", "request_uuid", "trace_id", "level", "logger", "message")
SPAN_COLUMNS = ("env_id", "timestamp", "request_uuid", "trace_id", "name", "duration_ms", "duration_bin")
LEVEL_CHARS, LOGGER_CHARS, NAME_CHARS = 16, 200, 200
_LOOKUP_CHUNK = 500


@dataclasses.dataclass
class Records:
    """The rows (but their env) of one batch, made before the write transaction; keyed by request uuid
    so that records of a request stored before (a request logged twice) are not stored again."""

    logs: list[tuple[str | None, tuple[object, ...]]] = dataclasses.field(default_factory=list)
    spans: list[tuple[str | None, tuple[object, ...]]] = dataclasses.field(default_factory=list)
    # The earliest and latest time of the batch's request logs: on PostgreSQL the lookup of stored
    # requests reads only the day slices between them (storage/partitions.py).
    request_times: tuple[float, float] | None = None


def _text(value: str | None, limit: int | None = None) -> str | None:
    # PostgreSQL refuses NUL in text; the protocol lets any string through.
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")
    return value[:limit] if limit is not None else value


def _log_row(record: AppLog, at: float, uuid: str | None, trace_id: str | None) -> tuple[object, ...]:
    # A record without a usable time (missing, NaN: SQLite would store NULL) is placed at its request's.
    given = record.timestamp
    timestamp = given if isinstance(given, int | float) and math.isfinite(given) else at
    level = _text(record.level, LEVEL_CHARS)
    return (
        timestamp,
        uuid,
        trace_id,
        level.upper() if level else None,
        _text(record.logger, LOGGER_CHARS),
        _text(record.message),
    )


def _span_row(span: Span, uuid: str | None, trace_id: str | None) -> tuple[object, ...]:
    duration_ms = max(span.end_time - span.start_time, 0) / 1e6
    name = _text(span.name, NAME_CHARS) or "(unnamed)"
    return (span.start_time / 1e9, uuid, trace_id, name, duration_ms, span_bins.bin_of(duration_ms))


def serialise(batch: Batch) -> Records:
    """The app-log and span rows of `batch`'s request logs (first of each uuid) and trace items."""
    out = Records()
    seen: set[str] = set()
    if batch.request_logs:
        times = [log.timestamp for log in batch.request_logs]
        out.request_times = (min(times), max(times))
    for log in batch.request_logs:
        if log.uuid in seen:
            continue
        seen.add(log.uuid)
        for record in log.logs or ():
            out.logs.append((log.uuid, _log_row(record, log.timestamp, log.uuid, log.trace_id)))
        for span in log.spans or ():
            out.spans.append((log.uuid, _span_row(span, log.uuid, log.trace_id)))
    for item in batch.trace_items:
        if item.log is not None:
            out.logs.append((None, _log_row(item.log, item.timestamp, None, item.trace_id)))
        elif item.span is not None:
            out.spans.append((None, _span_row(item.span, None, item.trace_id)))
    return out


def _stored_uuids(
    conn: sa.Connection, env_id: int, uuids: Sequence[str], times: tuple[float, float] | None
) -> set[str]:
    found: set[str] = set()
    terms = []
    if times is not None and conn.dialect.name == "postgresql":
        # The partitioned key holds the timestamp (ingest/request_logs.py): a request stored with
        # another one is another request there, so the batch's times bound the lookup.
        terms.append(request_logs.c.timestamp.between(*times))
    for i in range(0, len(uuids), _LOOKUP_CHUNK):
        chunk = uuids[i : i + _LOOKUP_CHUNK]
        query = sa.select(request_logs.c.uuid).where(
            request_logs.c.env_id == env_id, request_logs.c.uuid.in_(chunk), *terms
        )
        found.update(conn.execute(query).scalars())
    return found


def known_requests(conn: sa.Connection, env_id: int, records: Records) -> set[str]:
    """The request uuids of `records` already stored in env `env_id`: call before storing the request logs."""
    uuids = sorted({uuid for uuid, _ in (*records.logs, *records.spans) if uuid is not None})
    return _stored_uuids(conn, env_id, uuids, records.request_times) if uuids else set()


def append(conn: sa.Connection, env_id: int, records: Records, known: set[str]) -> None:
    """Append the rows of `records` to env `env_id` but those of requests in `known`."""
    for table, columns, rows in (
        (app_log_records, LOG_COLUMNS, records.logs),
        (span_records, SPAN_COLUMNS, records.spans),
    ):
        kept = [row for uuid, row in rows if uuid is None or uuid not in known]
        bulk.append(conn, table, columns, [(env_id, *row) for row in kept])
        if table is span_records:
            span_hours.add(conn, env_id, kept)
