"""Request-log rows: one per logged request, what the dashboard only shows in the `details` JSON."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.ingest.batch import CLIENT_IP_CHARS, AppLog, RequestLog, Span
from tallyhub.storage.dimensions import NaturalEndpoint, natural_endpoint
from tallyhub.storage.tables import TEXT_BODIES, request_logs
from tallyhub.storage.upsert import insert_ignore

# A request's uuid is its key; on PostgreSQL the key also holds the partition key, the timestamp
# (storage/partitions.py). That still stores a retried log file once: a request's timestamp is read
# from the file, so every retry of it carries the same one.
KEY = ("env_id", "uuid")
PARTITIONED_KEY = (*KEY, "timestamp")

_LOG_FIELDS = tuple(f.name for f in dataclasses.fields(AppLog))
_SPAN_FIELDS = tuple(f.name for f in dataclasses.fields(Span))


def store(
    conn: sa.Connection,
    env_id: int,
    logs: Sequence[RequestLog],
    endpoint_ids: Mapping[NaturalEndpoint, int],
    consumer_ids: Mapping[str, int],
) -> None:
    """Insert the logs not stored yet, given the ids of every endpoint and consumer they name."""
    if not logs:
        return
    key = PARTITIONED_KEY if conn.dialect.name == "postgresql" else KEY
    insert_ignore(conn, request_logs, rows(env_id, logs, endpoint_ids, consumer_ids), key)


def rows(
    env_id: int,
    logs: Sequence[RequestLog],
    endpoint_ids: Mapping[NaturalEndpoint, int],
    consumer_ids: Mapping[str, int],
) -> list[dict[str, Any]]:
    """The request_logs rows of `logs` (what `store` inserts)."""
    return [_row(env_id, log, endpoint_ids, consumer_ids) for log in logs]


def _row(
    env_id: int, log: RequestLog, endpoint_ids: Mapping[NaturalEndpoint, int], consumer_ids: Mapping[str, int]
) -> dict[str, Any]:
    texts = {name: body_text(getattr(log, name)) for name in _BODIES}
    return {
        "env_id": env_id,
        "uuid": log.uuid,
        "timestamp": log.timestamp,
        "method": log.method.upper(),
        "path": log.path,
        "endpoint_id": (endpoint_ids.get(natural_endpoint(log.method, log.path)) or None)
        if log.path
        else None,
        "url": log.url,
        "status_code": log.status_code,
        "response_time": log.response_time,
        "consumer_id": consumer_ids.get(log.consumer) if log.consumer else None,
        "request_size": log.request_size,
        "response_size": log.response_size,
        "trace_id": log.trace_id,
        "details": _without_text_bodies(details(log), texts),
        # Copies of two details fields, read by the client-IP filter and the CSV export.
        "client_ip": _text(log.client_ip[:CLIENT_IP_CHARS]) if log.client_ip else None,
        "exception_type": _text(log.exception.type) if log.exception else None,
        **{f"{name}_text": text for name, text in texts.items()},
    }


_BODIES = ("request_body", "response_body")


def _without_text_bodies(out: dict[str, Any], texts: dict[str, str | None]) -> dict[str, Any]:
    """`out` without the bodies that their text column gives back exactly (base64 of its UTF-8), listed
    under TEXT_BODIES: a body was stored twice, a third of a row (~1.4 KB of a ~4.7 KB one for 1 KB)."""
    kept = [
        name
        for name, text in texts.items()
        if text is not None and base64.b64encode(text.encode()).decode("ascii") == out[name]
    ]
    for name in kept:
        out[name] = None
    if kept:
        out[TEXT_BODIES] = kept
    return out


def _text(value: str) -> str:
    # PostgreSQL refuses NUL in a text column (the details JSON keeps it escaped).
    return value.replace("\x00", "\ufffd")


def body_text(encoded: str | None) -> str | None:
    """A base64 body as the text body search reads: None when absent, not base64 or not UTF-8 text."""
    if not encoded:
        return None
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    # PostgreSQL refuses NUL in text; such a body is binary in all but name.
    return text if text and "\x00" not in text else None


def details(log: RequestLog) -> dict[str, Any]:
    """The `details` JSON: headers, bodies, exception, logs (without missing fields), spans, SERVER span."""
    exc = log.exception
    out: dict[str, Any] = {
        "request_headers": log.request_headers,
        "request_body": log.request_body,
        "response_headers": log.response_headers,
        "response_body": log.response_body,
        "exception": {
            "type": exc.type,
            "message": exc.message,
            "traceback": exc.traceback,
            "sentry_event_id": exc.sentry_event_id,
        }
        if exc
        else None,
        "client_ip": log.client_ip,
        "logs": [log_details(record) for record in log.logs] if log.logs is not None else None,
        "spans": [span_details(span) for span in log.spans] if log.spans is not None else None,
    }
    if log.span_id is not None:
        out["span_id"] = log.span_id  # the SERVER span: the read side joins trace items to it
    return out


def log_details(record: AppLog) -> dict[str, Any]:
    """A log record as the details list it: the fields it has."""
    return {name: value for name in _LOG_FIELDS if (value := getattr(record, name)) is not None}


def span_details(span: Span) -> dict[str, Any]:
    """A span as the details list it."""
    return {name: getattr(span, name) for name in _SPAN_FIELDS}
