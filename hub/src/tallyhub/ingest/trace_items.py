"""Trace-item rows: child spans and log records of OTLP traces, appended as they come, joined when read."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import sqlalchemy as sa

from tallyhub.ingest import request_logs
from tallyhub.ingest.batch import TraceItem
from tallyhub.storage import bulk
from tallyhub.storage.tables import trace_items

COLUMNS = ("env_id", "trace_id", "kind", "span_id", "parent_span_id", "timestamp", "data")


def serialise(items: Sequence[TraceItem]) -> list[tuple[object, ...]]:
    """The rows of `items` but their env, serialised before the write transaction (SQLite's write lock)."""
    out: list[tuple[object, ...]] = []
    for item in items:
        if item.span is not None:
            data = request_logs.span_details(item.span)
            kind, parent = "span", item.span.parent_span_id
        elif item.log is not None:
            data, kind, parent = request_logs.log_details(item.log), "log", None
        else:
            continue
        out.append((item.trace_id, kind, item.span_id, parent, item.timestamp, orjson.dumps(data).decode()))
    return out


def append(conn: sa.Connection, env_id: int, serialised: Sequence[tuple[object, ...]]) -> None:
    """Append rows made by `serialise` to env `env_id`, in the transaction `conn` is in."""
    bulk.append(conn, trace_items, COLUMNS, [(env_id, *row) for row in serialised])
