"""Logged requests of every shape the explorer shows, stored through the hub's own writer."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from tallyhub.ingest import batch
from tallyhub.ingest.writer import Writer
from tallyhub.storage.database import Database


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


TRACEBACK = 'Traceback (most recent call last):\n  File "shop.py", line 9, in pay\nValueError: card declined'


def sample_log(i: int, t0: float) -> batch.RequestLog:
    """The i-th sample: varied method, endpoint, status, consumer, sizes, bodies, exception, logs, trace."""
    failed = i % 10 == 3
    trace_id = f"{i:032x}" if i % 4 == 0 or failed else None
    start_ns = int((t0 + i) * 1e9)
    return batch.RequestLog(
        uuid=str(uuid.UUID(int=i + 1)),
        timestamp=t0 + i,
        method="POST" if i % 3 == 0 else "GET",
        path="/pay" if i % 3 == 0 else "/items/{id}",
        url=f"https://shop.test/{'pay' if i % 3 == 0 else f'items/{i}'}?q={i}",
        status_code=500 if failed else (404 if i % 7 == 0 else 200),
        response_time=0.005 * (i + 1),
        consumer=("acme", "globex", None)[i % 3],
        request_size=100 * i if i % 3 == 0 else None,
        request_headers=[("Content-Type", "application/json"), ("X-Req", str(i))],
        request_body=b64(f'{{"order": {i}, "note": "Needle{i % 5}_50%"}}') if i % 3 == 0 else None,
        response_size=10 * i,
        response_headers=[("Content-Type", "application/json")],
        response_body=b64(f'{{"id": {i}, "name": "Widget {i}"}}') if i % 2 == 0 else b64(b"\xff\xfe binary"),
        exception=batch.ExceptionInfo("ValueError", "card declined", TRACEBACK, None) if failed else None,
        client_ip=f"10.0.0.{i % 4}",
        logs=[batch.AppLog(t0 + i + 0.001, "shop.pay", "WARNING", f"charging order {i}", None, None)]
        if i % 3 == 0
        else None,
        spans=[
            batch.Span("a" * 16, None, "POST /pay", "SERVER", start_ns, start_ns + 5_000_000, "OK", None),
            batch.Span(
                "b" * 16,
                "a" * 16,
                "db.query",
                "INTERNAL",
                start_ns + 1_000_000,
                start_ns + 3_000_000,
                "OK",
                {"db.statement": "SELECT 1"},
            ),
        ]
        if trace_id
        else None,
        trace_id=trace_id,
    )


def store_logs(db: Database, app_id: int, env: str, logs: list[batch.RequestLog], now: float) -> None:
    """Store the logs as one Hub v2 log file would be, through the writer."""
    Writer(db, clock=lambda: now).store(app_id, env, batch.Batch("log", str(uuid.uuid4()), request_logs=logs))


def as_dict(log: batch.RequestLog) -> dict[str, Any]:
    return {f: getattr(log, f) for f in log.__slots__}  # type: ignore[attr-defined]
