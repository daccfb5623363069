"""OTLP log exports into batch parts: application log records become trace items of their request, and
the apitally 1.0 events (scope `apitally`, `event_name`) become startups, consumers and error counts."""

from __future__ import annotations

import dataclasses

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tallyhub.ingest import batch
from tallyhub.ingest.otlp import events
from tallyhub.ingest.otlp.context import Context, Translated
from tallyhub.ingest.otlp.values import attributes, integer, text, value

APITALLY_SCOPE = "apitally"
SERVER_SPAN = "apitally.request.server_span_id"


@dataclasses.dataclass(slots=True)
class Logs:
    """What a log export holds: app logs as trace items, the apitally events' parts; refusals by why."""

    trace_items: list[batch.TraceItem] = dataclasses.field(default_factory=list)
    events: events.Events = dataclasses.field(default_factory=events.Events)
    refused: dict[str, int] = dataclasses.field(default_factory=dict)

    def refuse(self, count: int, why: str) -> None:
        self.refused[why] = self.refused.get(why, 0) + count


def translate(request: ExportLogsServiceRequest, context: Context) -> Translated:
    """The export's batch: app logs as trace items, the apitally events' parts; refusals counted."""
    logs = read(request, context)
    out = Translated(context.batch())
    out.batch.trace_items.extend(logs.trace_items)
    logs.events.add_to(out.batch)
    for why, count in logs.refused.items():
        out.reject(count, why)
    return out


def read(request: ExportLogsServiceRequest, context: Context) -> Logs:
    """The app logs (those with a trace id: others belong to no request) and apitally events of an export."""
    out = Logs()
    for resource_logs in request.resource_logs:
        if not context.accepts(resource_logs.resource):
            out.refuse(sum(len(s.log_records) for s in resource_logs.scope_logs), "a resource of another env")
            continue
        res = attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            apitally = scope_logs.scope.name == APITALLY_SCOPE
            for record in scope_logs.log_records:
                at = (record.time_unix_nano or record.observed_time_unix_nano) / 1e9 or None
                if apitally and record.event_name:
                    if not events.add(
                        out.events, record.event_name, value(record.body), at, resource_logs.resource, res
                    ):
                        out.refuse(1, f"an {record.event_name} event whose body is not its shape")
                elif record.trace_id:
                    item = _app_log(record, at, scope_logs.scope.name)
                    if item is None:
                        out.refuse(1, "a log record without a 16-byte trace id and an 8-byte span id")
                    else:
                        out.trace_items.append(item)
    return out


def _app_log(record: LogRecord, at: float | None, scope: str) -> batch.TraceItem | None:
    """A log record as a trace item of the span it was written in (apitally 1.0 names its SERVER span)."""
    if len(record.trace_id) != 16 or len(record.span_id) not in (0, 8):
        return None
    attrs = attributes(record.attributes)
    span_id = text(attrs, SERVER_SPAN, limit=16) or record.span_id.hex() or None
    body = value(record.body)
    log = batch.AppLog(
        timestamp=at,
        # The OpenTelemetry logging handlers name the scope after the logger.
        logger=text(attrs, "logger.name") or scope or None,
        level=record.severity_text or _level(record.severity_number),
        message=body if isinstance(body, str) else (None if body is None else str(body)),
        file=text(attrs, "code.file.path", "code.filepath"),
        line=integer(attrs, "code.line.number", "code.lineno"),
    )
    return batch.TraceItem(record.trace_id.hex(), span_id, at or 0.0, log=log)


def _level(severity: int) -> str | None:
    """The level an OTLP severity number falls in (1–4 TRACE … 21–24 FATAL); None when unset."""
    if severity <= 0:
        return None
    names = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
    return names[min((severity - 1) // 4, len(names) - 1)]
