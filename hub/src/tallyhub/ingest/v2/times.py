"""Every time a Hub v2 payload carries, checked against the ingestion window (tallyhub.ingest.window).

Startups carry none; a sync has its `timestamp`; a request-log line has the request's timestamp, its
log records' and its spans' start and end (nanoseconds).
"""

from __future__ import annotations

from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.v2.request_log import RequestLogLine
from tallyhub.ingest.window import Window


def check_sync(payload: Sync, window: Window) -> None:
    """OutOfWindow for a sync dated outside the window (a missing timestamp means "now")."""
    if payload.timestamp is not None:
        window.check(("body", "timestamp"), payload.timestamp)


def check_log_line(line: RequestLogLine, window: Window, loc: tuple[str | int, ...]) -> None:
    """OutOfWindow for the first time of the line (at `loc`) outside the window."""
    window.check((*loc, "request", "timestamp"), line.request.timestamp)
    for i, record in enumerate(line.logs or ()):
        if record.timestamp is not None:
            window.check((*loc, "logs", i, "timestamp"), record.timestamp)
    for i, span in enumerate(line.spans or ()):
        window.check_ns((*loc, "spans", i, "start_time"), span.start_time)
        window.check_ns((*loc, "spans", i, "end_time"), span.end_time)
