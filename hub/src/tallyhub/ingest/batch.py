"""What one payload holds, whichever protocol brought it: the writer stores a `Batch` whole or not at all.

Each protocol has a translator into a batch (ingest/v2/translate.py). A batch may hold any mix: an export
that carries metrics, request logs and events together is one batch, one transaction, one idempotency
key. Times are epoch seconds; an `at` of None means "when the hub received it". Strings come bounded to
their columns, as the translator's wire models bound them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tallyhub.metrics.streams import CumulativePoint as CumulativePoint  # metrics/ may not import ingest/
from tallyhub.metrics.writes import RequestMetrics as RequestMetrics


@dataclasses.dataclass(slots=True)
class Endpoint:
    """An endpoint an app declares at startup, with the path in its framework's syntax."""

    method: str
    path: str
    summary: str | None = None
    description: str | None = None


@dataclasses.dataclass(slots=True)
class Startup:
    """What a process tells about itself when it starts: its client, package versions and endpoints."""

    client: str | None
    versions: dict[str, Any]
    app_version: str | None
    endpoints: list[Endpoint]


@dataclasses.dataclass(slots=True)
class Instance:
    """A running process of the app, and what the batch tells of it."""

    uuid: str
    startup: Startup | None = None
    heartbeat: bool = False  # the batch is one of its regular reports: it was alive when received
    cpu_percent: float | None = None  # None: not reported (the stored value stays)
    memory_rss: int | None = None  # bytes
    # What an exporter's resource tells of its client (OTLP): stored only where no startup told it yet.
    client: str | None = None
    versions: dict[str, Any] | None = None
    at: float | None = None  # when cpu_percent and memory_rss were measured; None: when received


@dataclasses.dataclass(slots=True)
class ServerError:
    """Occurrences of one unhandled exception at an endpoint, by one consumer, in a window ended at `at`."""

    at: float | None
    consumer: str | None
    method: str
    path: str
    type: str  # module.QualName
    msg: str
    traceback: str
    sentry_event_id: str | None
    count: int


@dataclasses.dataclass(slots=True)
class ValidationError:
    """Occurrences of one refused request field at an endpoint, by one consumer, in a window ended at `at`."""

    at: float | None
    consumer: str | None
    method: str
    path: str
    loc: tuple[str, ...]  # where the field is, e.g. ("body", "name")
    msg: str
    type: str
    count: int


@dataclasses.dataclass(slots=True)
class Consumer:
    """A consumer's name and group as its app sent them at `at`; None changes nothing stored."""

    at: float | None
    identifier: str
    name: str | None
    group: str | None
    # Changes to its attributes (apitally 1.0): a value sets the key, None deletes it; None: no change.
    attributes: dict[str, str | None] | None = None


@dataclasses.dataclass(slots=True)
class ExceptionInfo:
    """The unhandled exception of a logged request."""

    type: str
    message: str
    traceback: str
    sentry_event_id: str | None


@dataclasses.dataclass(slots=True)
class AppLog:
    """A log record the app wrote while handling a logged request; any field may be missing."""

    timestamp: float | None
    logger: str | None
    level: str | None
    message: str | None
    file: str | None
    line: int | None


@dataclasses.dataclass(slots=True)
class Span:
    """A span of a logged request's trace; times in nanoseconds since the epoch."""

    span_id: str
    parent_span_id: str | None
    name: str
    kind: str | int | None
    start_time: int
    end_time: int
    status: str | int | None
    attributes: dict[str, Any] | None


CLIENT_IP_CHARS = 64  # what a RequestLog's client_ip is cut to (request_logs.client_ip is that long)


@dataclasses.dataclass(slots=True)
class RequestLog:
    """One logged request with its response, and what the app logged and traced while handling it."""

    uuid: str  # the request's own id: a request logged twice (in two payloads) is stored once
    timestamp: float  # when the request started
    method: str
    path: str | None  # the route template; None for a request that matched no route
    url: str
    status_code: int
    response_time: float  # seconds
    consumer: str | None = None
    request_size: int | None = None  # bytes
    request_headers: list[tuple[str, Any]] | None = None
    request_body: str | None = None  # base64
    response_size: int | None = None
    response_headers: list[tuple[str, Any]] | None = None
    response_body: str | None = None
    exception: ExceptionInfo | None = None
    client_ip: str | None = None  # the client's address, when the protocol tells it (OTLP); CLIENT_IP_CHARS
    logs: list[AppLog] | None = None
    spans: list[Span] | None = None
    trace_id: str | None = None
    span_id: str | None = None  # its SERVER span (OTLP): the root of what trace items join it


@dataclasses.dataclass(slots=True)
class TraceItem:
    """A child span or a log record of a trace, stored apart: it joins its request log by trace id when read.

    `span_id` is a span's own id, or the id of the span a log record was written in.
    """

    trace_id: str
    span_id: str | None
    timestamp: float  # epoch seconds
    span: Span | None = None
    log: AppLog | None = None


@dataclasses.dataclass(slots=True)
class SourcedRequests:
    """Requests of one instance as one OTLP signal counted them; per instance only one signal counts."""

    instance: str  # service.instance.id (else service.name): the key the counting rule is kept under
    source: str  # "spans" or "metrics"
    requests: list[RequestMetrics]
    cumulative: list[CumulativePoint] = dataclasses.field(default_factory=list)  # counted as Batch.cumulative


@dataclasses.dataclass(slots=True)
class Batch:
    """One payload's data, stored at most once per (`kind`, `key`): a retry of it is acknowledged only."""

    kind: str  # the sort of payload, at most 10 characters (Hub v2: "startup", "sync", "log")
    key: str  # its id within the kind, at most 36 characters: a UUID (or a digest of the body shaped as one)
    instances: list[Instance] = dataclasses.field(default_factory=list)
    requests: list[RequestMetrics] = dataclasses.field(default_factory=list)
    server_errors: list[ServerError] = dataclasses.field(default_factory=list)
    validation_errors: list[ValidationError] = dataclasses.field(default_factory=list)
    consumers: list[Consumer] = dataclasses.field(default_factory=list)
    request_logs: list[RequestLog] = dataclasses.field(default_factory=list)
    trace_items: list[TraceItem] = dataclasses.field(default_factory=list)
    sourced_requests: list[SourcedRequests] = dataclasses.field(default_factory=list)
    # Cumulative request metrics (OTLP): counted as the difference from their stream's stored totals.
    cumulative: list[CumulativePoint] = dataclasses.field(default_factory=list)
