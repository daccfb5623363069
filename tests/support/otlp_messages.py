"""OTLP messages for tests, built from the official generated classes: spans, log records, resources."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SERVER, INTERNAL, CLIENT = (
    Span.SpanKind.SPAN_KIND_SERVER,
    Span.SpanKind.SPAN_KIND_INTERNAL,
    Span.SpanKind.SPAN_KIND_CLIENT,
)
ERROR = Status.StatusCode.STATUS_CODE_ERROR


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(key_values(value))
        return out
    return AnyValue(string_value=value)


def key_values(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def span(
    trace: str,
    span_id: str,
    name: str,
    start_ns: int,
    duration_ns: int,
    *,
    parent: str = "",
    kind: int = INTERNAL,
    attrs: dict[str, Any] | None = None,
    status: int = 0,
    events: list[tuple[str, int, dict[str, Any]]] = (),  # type: ignore[assignment]
) -> Span:
    out = Span(
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent),
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ns,
        status=Status(code=status),  # type: ignore[arg-type]
    )
    out.attributes.extend(key_values(attrs or {}))
    for event_name, at, event_attrs in events:
        event = out.events.add(name=event_name, time_unix_nano=at)
        event.attributes.extend(key_values(event_attrs))
    return out


def traces(resource: dict[str, Any], *spans: Span, scope: str = "test") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values(resource))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(spans)
    return request


def log_record(
    at_ns: int,
    body: Any,
    *,
    trace: str = "",
    span_id: str = "",
    severity: str = "",
    event_name: str = "",
    attrs: dict[str, Any] | None = None,
) -> LogRecord:
    out = LogRecord(
        time_unix_nano=at_ns,
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(span_id),
        severity_text=severity,
        event_name=event_name,
        body=any_value(body),
    )
    out.attributes.extend(key_values(attrs or {}))
    return out


def logs(resource: dict[str, Any], *records: LogRecord, scope: str = "test") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(key_values(resource))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = scope
    scope_logs.log_records.extend(records)
    return request
