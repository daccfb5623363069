"""Logged requests with application logs and spans (Hub v2 and OTLP shapes), stored through the writer."""

from __future__ import annotations

import dataclasses
import uuid

from tallyhub.ingest import batch
from tallyhub.ingest.writer import Writer
from tallyhub.storage.database import Database

N = 30  # requests in prod, each with 2 log records: 60 records, more than a page of 50
LEVELS = ("INFO", "warning", "ERROR")  # as clients spell them; stored upper case
LOGGERS = ("shop.pay", "shop.db")
OTLP_TRACE, OTLP_SERVER_SPAN = "f" * 32, "1" * 16
ORPHAN_TRACE = "e" * 32  # OTLP records of a trace whose request (SERVER span) never arrived


@dataclasses.dataclass(frozen=True)
class Record:
    """A log record as the application-logs page should show it."""

    request_uuid: str | None
    env: str
    timestamp: float
    level: str
    logger: str
    message: str


def _span(name: str, start_ns: int, duration_ms: float) -> batch.Span:
    return batch.Span(
        uuid.uuid4().hex[:16], None, name, "INTERNAL", start_ns, start_ns + int(duration_ms * 1e6), "OK", None
    )


def request(i: int, t0: float, env: str = "prod") -> batch.RequestLog:
    """The i-th request: 2 records (level and logger by i), spans db.query ((i+1) ms), render, and
    http.call (50 ms) on every tenth."""
    at = t0 + 10 * i
    start_ns = int(at * 1e9)
    spans = [_span("db.query", start_ns, i + 1), _span("render", start_ns + 1000, 0.5)]
    if i % 10 == 0:
        spans.append(_span("http.call", start_ns + 2000, 50))
    return batch.RequestLog(
        uuid=str(uuid.UUID(int=(1 if env == "prod" else 1000) + i)),
        timestamp=at,
        method="POST",
        path="/pay",
        url=f"https://shop.test/pay?order={i}",
        status_code=200,
        response_time=0.06,
        logs=[
            batch.AppLog(
                at + 0.001 * k, LOGGERS[(i + k) % 2], LEVELS[(i + k) % 3], f"order {i} step {k}", None, None
            )
            for k in range(2)
        ],
        spans=spans,
    )


def expected_records(logs: list[batch.RequestLog], env: str) -> list[Record]:
    return [
        Record(
            log.uuid,
            env,
            r.timestamp or log.timestamp,
            (r.level or "").upper(),
            r.logger or "",
            r.message or "",
        )
        for log in logs
        for r in log.logs or ()
    ]


def store(
    db: Database,
    app_id: int,
    env: str,
    logs: list[batch.RequestLog],
    now: float,
    items: list[batch.TraceItem] | None = None,
) -> None:
    Writer(db, clock=lambda: now).store(
        app_id, env, batch.Batch("log", str(uuid.uuid4()), request_logs=logs, trace_items=items or [])
    )


def otlp_request(at: float) -> tuple[batch.RequestLog, list[batch.TraceItem]]:
    """An OTLP request (its SERVER span) with a child span and a log record in it, and one record of
    another trace whose request is not stored."""
    start_ns = int(at * 1e9)
    server = batch.RequestLog(
        uuid=str(uuid.UUID(int=9999)),
        timestamp=at,
        method="GET",
        path="/otlp",
        url="https://shop.test/otlp",
        status_code=200,
        response_time=0.01,
        trace_id=OTLP_TRACE,
        span_id=OTLP_SERVER_SPAN,
    )
    child = batch.Span(
        "2" * 16, OTLP_SERVER_SPAN, "otlp.child", "CLIENT", start_ns, start_ns + 7_000_000, "OK", None
    )
    items = [
        batch.TraceItem(OTLP_TRACE, child.span_id, at, span=child),
        batch.TraceItem(
            OTLP_TRACE,
            OTLP_SERVER_SPAN,
            at + 0.002,
            log=batch.AppLog(at + 0.002, "otlp.logger", "Info", "from otlp", None, None),
        ),
        batch.TraceItem(
            ORPHAN_TRACE,
            "3" * 16,
            at + 0.003,
            log=batch.AppLog(at + 0.003, "otlp.logger", "ERROR", "orphan record", None, None),
        ),
    ]
    return server, items
