"""OTLP trace exports into batch parts: each SERVER span of an HTTP request is a request log (and, for apps
whose requests no metrics count, one counted request); every other span is a trace item of its trace."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import uuid
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tallyhub.ingest import batch
from tallyhub.ingest.otlp import resource as resources
from tallyhub.ingest.otlp.attributes import instance_uuid
from tallyhub.ingest.otlp.context import Context, Translated
from tallyhub.ingest.otlp.urls import url
from tallyhub.ingest.otlp.values import attributes, integer, text

SERVER = OtlpSpan.SpanKind.SPAN_KIND_SERVER
REQUEST_HEADER, RESPONSE_HEADER = "http.request.header.", "http.response.header."
IDENTIFIER_CHARS, PATH_CHARS, METHOD_CHARS = 128, 1000, 16


@dataclasses.dataclass(slots=True)
class Spans:
    """What a trace export holds: request logs, trace items, counted requests; the spans refused, by why."""

    request_logs: list[batch.RequestLog] = dataclasses.field(default_factory=list)
    trace_items: list[batch.TraceItem] = dataclasses.field(default_factory=list)
    sourced_requests: list[batch.SourcedRequests] = dataclasses.field(default_factory=list)
    refused: dict[str, int] = dataclasses.field(default_factory=dict)

    def refuse(self, count: int, why: str) -> None:
        self.refused[why] = self.refused.get(why, 0) + count


def translate(request: ExportTraceServiceRequest, context: Context) -> Translated:
    """The export's batch: its request logs, trace items and span-counted requests; refusals counted."""
    spans = read(request, context)
    out = Translated(context.batch())
    out.batch.request_logs.extend(spans.request_logs)
    out.batch.trace_items.extend(spans.trace_items)
    out.batch.sourced_requests.extend(spans.sourced_requests)
    for why, count in spans.refused.items():
        out.reject(count, why)
    return out


def read(request: ExportTraceServiceRequest, context: Context) -> Spans:
    """The request logs, trace items and span-counted requests of a trace export."""
    out = Spans()
    for resource_spans in request.resource_spans:
        if not context.accepts(resource_spans.resource):
            out.refuse(sum(len(s.spans) for s in resource_spans.scope_spans), "a resource of another env")
            continue
        res = attributes(resource_spans.resource.attributes)
        counted: list[batch.RequestMetrics] = []
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    out.refuse(1, "a span without a 16-byte trace id and an 8-byte span id")
                    continue
                attrs = attributes(span.attributes)
                if span.kind == SERVER and text(attrs, "http.request.method", "http.method"):
                    log = request_log(span, attrs)
                    if log is None:
                        out.refuse(1, "an HTTP SERVER span without a response status code")
                        continue
                    out.request_logs.append(log)
                    counted.append(_counted(span, log))
                else:
                    out.trace_items.append(
                        batch.TraceItem(
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.start_time_unix_nano / 1e9,
                            span=_span(span, attrs),
                        )
                    )
        # apitally 1.0 samples its spans and counts every request in its metrics: its spans never count.
        if counted and not resources.is_apitally(res):
            instance = instance_uuid(resource_spans.resource)
            out.sourced_requests.append(batch.SourcedRequests(instance, "spans", counted))
    return out


def request_log(span: OtlpSpan, attrs: dict[str, Any]) -> batch.RequestLog | None:
    """The request log of an HTTP SERVER span, in either generation of the semantic conventions; None
    when it tells no status code."""
    status = integer(attrs, "http.response.status_code", "http.status_code")
    if status is None or not 0 <= status <= 999:
        return None
    trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
    request_headers = _headers(attrs, REQUEST_HEADER)
    agent = text(attrs, "user_agent.original", "http.user_agent")
    if agent is not None and not any(name == "user-agent" for name, _ in request_headers or ()):
        request_headers = [*(request_headers or []), ("user-agent", agent)]
    return batch.RequestLog(
        # A span logged twice (in two exports) is one request: its id is derived from the span's.
        uuid=str(uuid.UUID(bytes=hashlib.blake2b(span.trace_id + span.span_id, digest_size=16).digest())),
        timestamp=span.start_time_unix_nano / 1e9,
        method=(text(attrs, "http.request.method", "http.method") or "").upper()[:METHOD_CHARS],
        path=text(attrs, "http.route", limit=PATH_CHARS),
        url=url(attrs),
        status_code=status,
        response_time=max(span.end_time_unix_nano - span.start_time_unix_nano, 0) / 1e9,
        consumer=text(attrs, "apitally.consumer.identifier", "enduser.id", limit=IDENTIFIER_CHARS),
        request_size=integer(attrs, "http.request.body.size", "http.request_content_length"),
        request_headers=request_headers,
        request_body=_body(attrs.get("apitally.request.body")),
        response_size=integer(attrs, "http.response.body.size", "http.response_content_length"),
        response_headers=_headers(attrs, RESPONSE_HEADER),
        response_body=_body(attrs.get("apitally.response.body")),
        exception=_exception(span, attrs),
        client_ip=text(
            attrs,
            "client.address",
            "http.client_ip",
            "net.sock.peer.addr",
            "net.peer.ip",
            limit=batch.CLIENT_IP_CHARS,
        ),
        trace_id=trace_id,
        span_id=span_id,
    )


def _counted(span: OtlpSpan, log: batch.RequestLog) -> batch.RequestMetrics:
    """The span as one request in the minute it ended, as a Hub v2 sync would have counted it."""
    ms = log.response_time * 1000
    return batch.RequestMetrics(
        at=span.end_time_unix_nano / 1e9,
        consumer=log.consumer,
        method=log.method,
        path=log.path or "",
        status_code=log.status_code,
        request_count=1,
        request_size_sum=log.request_size or 0,
        response_size_sum=log.response_size or 0,
        response_times={int(ms // 10) * 10: 1},
        request_sizes={log.request_size // 1000: 1} if log.request_size is not None else {},
        response_sizes={log.response_size // 1000: 1} if log.response_size is not None else {},
    )


def _headers(attrs: dict[str, Any], prefix: str) -> list[tuple[str, Any]] | None:
    """[name, value] pairs from `http.{request,response}.header.<name>` (string arrays); None if none."""
    pairs = []
    for key, values in attrs.items():
        if key.startswith(prefix):
            name = key[len(prefix) :]
            for v in values if isinstance(values, list) else [values]:
                pairs.append((name, v))
    return pairs or None


def _body(value: Any) -> str | None:
    """A body as apitally 1.0 sends it (text, or bytes it could not decode), in base64 as logs hold it."""
    if isinstance(value, str):
        return base64.b64encode(value.encode()).decode()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return None


def _exception(span: OtlpSpan, attrs: dict[str, Any]) -> batch.ExceptionInfo | None:
    """The last `exception` event of the span (the one that ended the request), if any."""
    events = [e for e in span.events if e.name == "exception"]
    if not events:
        return None
    exc = attributes(events[-1].attributes)
    return batch.ExceptionInfo(
        type=text(exc, "exception.type") or "",
        message=text(exc, "exception.message") or "",
        traceback=text(exc, "exception.stacktrace") or "",
        sentry_event_id=text(attrs, "apitally.exception.sentry_event_id"),
    )


def _span(span: OtlpSpan, attrs: dict[str, Any]) -> batch.Span:
    return batch.Span(
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=span.name,
        kind=_name(OtlpSpan.SpanKind, span.kind, "SPAN_KIND_"),
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        status=_name(Status.StatusCode, span.status.code, "STATUS_CODE_"),
        attributes=_jsonable(attrs),
    )


def _name(enum: Any, number: int, prefix: str) -> str | int:
    """An enum value's name without its prefix; the number itself when this protocol version lacks it."""
    try:
        return str(enum.Name(number)).removeprefix(prefix)
    except ValueError:
        return number


def _jsonable(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes as JSON can hold them: bytes as base64."""
    return {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
