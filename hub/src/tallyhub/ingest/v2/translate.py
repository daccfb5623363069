"""Hub v2 payloads into batches: a startup, a sync or a request-log file is one `Batch`, keyed as it came."""

from __future__ import annotations

from collections.abc import Sequence

from tallyhub.ingest import batch
from tallyhub.ingest.v2.models import Startup, Sync
from tallyhub.ingest.v2.request_log import RequestLogLine


def startup(payload: Startup) -> batch.Batch:
    """The process's client, versions (`app`: the user's app_version) and endpoints."""
    versions = dict(payload.versions)
    info = batch.Startup(
        client=payload.client,
        versions=versions,
        app_version=str(versions.get("app") or "")[:100] or None,
        endpoints=[batch.Endpoint(p.method, p.path, p.summary, p.description) for p in payload.paths],
    )
    return batch.Batch("startup", payload.message_uuid, [batch.Instance(payload.instance_uuid, info)])


def sync(payload: Sync) -> batch.Batch:
    """A sync's counts, all dated at its timestamp (missing before v0.14.4: when received)."""
    at = payload.timestamp
    resources = payload.resources
    # The entries are RequestMetrics already (models.RequestEntry), all dated at the sync's timestamp.
    requests: list[batch.RequestMetrics] = list(payload.requests)
    for entry in requests:
        entry.at = at
    instance = batch.Instance(
        payload.instance_uuid,
        heartbeat=True,
        cpu_percent=resources.cpu_percent if resources else None,
        memory_rss=resources.memory_rss if resources else None,
        at=at,
    )
    return batch.Batch(
        "sync",
        payload.message_uuid,
        instances=[instance],
        requests=requests,
        server_errors=[
            batch.ServerError(
                at, e.consumer, e.method, e.path, e.type, e.msg, e.traceback, e.sentry_event_id, e.error_count
            )
            for e in payload.server_errors
        ],
        validation_errors=[
            batch.ValidationError(
                at, e.consumer, e.method, e.path, tuple(e.loc), e.msg, e.type, e.error_count
            )
            for e in payload.validation_errors
        ],
        consumers=[batch.Consumer(at, c.identifier, c.name, c.group) for c in payload.consumers],
    )


def request_log(file_uuid: str, lines: Sequence[RequestLogLine]) -> batch.Batch:
    """A request-log file's lines, keyed by the file's uuid."""
    return batch.Batch("log", file_uuid, request_logs=[_request_log(line) for line in lines])


def _request_log(line: RequestLogLine) -> batch.RequestLog:
    req, resp, exc = line.request, line.response, line.exception
    return batch.RequestLog(
        uuid=line.uuid,
        timestamp=req.timestamp,
        method=req.method,
        path=req.path,
        url=req.url,
        consumer=req.consumer,
        request_size=req.size,
        request_headers=req.headers,
        request_body=req.body,
        status_code=resp.status_code,
        response_time=resp.response_time,
        response_size=resp.size,
        response_headers=resp.headers,
        response_body=resp.body,
        exception=batch.ExceptionInfo(exc.type, exc.message, exc.traceback, exc.sentry_event_id)
        if exc
        else None,
        logs=[batch.AppLog(r.timestamp, r.logger, r.level, r.message, r.file, r.line) for r in line.logs]
        if line.logs is not None
        else None,
        spans=[
            batch.Span(
                s.span_id, s.parent_span_id, s.name, s.kind, s.start_time, s.end_time, s.status, s.attributes
            )
            for s in line.spans
        ]
        if line.spans is not None
        else None,
        trace_id=line.trace_id,
    )
