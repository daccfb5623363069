"""Wire model of one request-log NDJSON line; Node's camelCase keys are accepted, stored in Python spelling.

PROTOCOL.md §2A.4 (Python) and §6.14 (Node). Empty values are left out by the clients, so everything but
the line's uuid, the request's timestamp and method, and the response's status and time is optional.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field

from tallyhub.ingest.v2.models import Count, Identifier, Method, Path, StatusCode, Timestamp, Uuid, WireModel


def _either(python: str, node: str) -> Any:
    return Field(validation_alias=AliasChoices(python, node))


# [name, value] pairs; values are kept as sent (a client could send a repeated header as a list).
Headers = list[tuple[str, Any]]
Nanoseconds = Annotated[int, Field(ge=0, le=2**63 - 1)]  # Node sends decimal strings; lax mode parses them


class LoggedRequest(WireModel):
    timestamp: Timestamp
    method: Method
    path: Path | None = None
    url: str = ""
    headers: Headers | None = None
    size: Count | None = None
    consumer: Identifier | None = None
    body: str | None = None  # base64, as sent


class LoggedResponse(WireModel):
    status_code: StatusCode = _either("status_code", "statusCode")
    response_time: Annotated[float, Field(ge=0, le=1e7)] = _either("response_time", "responseTime")
    headers: Headers | None = None
    size: Count | None = None
    body: str | None = None


class LoggedException(WireModel):
    type: str = ""
    message: str = ""
    traceback: str = _either("traceback", "stacktrace")
    sentry_event_id: str | None = Field(
        None, validation_alias=AliasChoices("sentry_event_id", "sentryEventId")
    )


class LogRecord(WireModel):
    timestamp: float | None = None
    logger: str | None = None
    level: str | None = None
    message: str | None = None
    file: str | None = None
    line: int | None = None


class Span(WireModel):
    span_id: str = _either("span_id", "spanId")
    parent_span_id: str | None = Field(None, validation_alias=AliasChoices("parent_span_id", "parentSpanId"))
    name: str = ""
    kind: str | int | None = None
    start_time: Nanoseconds = _either("start_time", "startTime")
    end_time: Nanoseconds = _either("end_time", "endTime")
    status: str | int | None = None
    attributes: dict[str, Any] | None = None


class RequestLogLine(WireModel):
    uuid: Uuid
    request: LoggedRequest
    response: LoggedResponse
    exception: LoggedException | None = None
    logs: list[LogRecord] | None = None
    spans: list[Span] | None = None
    trace_id: Annotated[str, Field(max_length=32)] | None = Field(
        None, validation_alias=AliasChoices("trace_id", "traceId")
    )

    def details(self) -> dict[str, Any]:
        """The `request_logs.details` JSON: headers, bodies, exception, logs and spans in Python spelling."""
        return {
            "request_headers": self.request.headers,
            "request_body": self.request.body,
            "response_headers": self.response.headers,
            "response_body": self.response.body,
            "exception": self.exception.model_dump() if self.exception else None,
            "logs": [r.model_dump(exclude_none=True) for r in self.logs] if self.logs is not None else None,
            "spans": [s.model_dump() for s in self.spans] if self.spans is not None else None,
        }
