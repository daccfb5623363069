"""Response and request bodies of the read API; they document its shapes in the OpenAPI schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Stats(BaseModel):
    requests: int
    requests_4xx: int = Field(description="4xx responses, without those the endpoint's settings expect.")
    requests_5xx: int = Field(description="5xx responses, without those the endpoint's settings expect.")
    error_rate: float = Field(description="(requests_4xx + requests_5xx) / requests; 0 without requests.")
    bytes_received: int = Field(description="Sum of request sizes (bytes).")
    bytes_sent: int = Field(description="Sum of response sizes (bytes).")
    mean_request_size: float | None = Field(description="Bytes per request whose size was known.")
    mean_response_size: float | None = Field(description="Bytes per response whose size was known.")
    p50: float | None = Field(description="Milliseconds: the middle of the 10 ms bin of the percentile.")
    p75: float | None
    p95: float | None
    p99: float | None
    apdex: float | None = Field(description="With each endpoint's own T where set, else the app's T.")
    expected_errors: int = Field(
        0, description="Error responses counted as successes: statuses the endpoint's settings expect."
    )


class SeriesPoint(Stats):
    time: str = Field(description="Start of the bucket, ISO 8601 UTC.")


class Traffic(BaseModel):
    app_id: int
    env: str | None
    start: str = Field(description="Start of the first bucket (the requested start, aligned down).")
    end: str = Field(description="End of the last bucket (the requested end, aligned up).")
    interval: Literal["minute", "hour", "day"]
    totals: Stats
    series: list[SeriesPoint]


class AppInfo(BaseModel):
    id: int
    name: str
    client_id: str
    envs: list[str]
    created_at: str
    framework: str | None = Field(
        description="The framework the app is set up with, chosen when it was created or in its settings "
        "(flask, fastapi, starlette, django-ninja, django-rest-framework, litestar, blacksheep, express, "
        "apitally1, opentelemetry); null when none was chosen."
    )


class Endpoint(Stats):
    method: str
    path: str = Field(description="The route as the framework spells it (first spelling seen).")
    path_key: str
    envs: list[str]
    in_startup: bool
    summary: str | None
    description: str | None
    hidden: bool = Field(description="Hidden in its settings: listed only with include_hidden=true.")
    excluded: bool = Field(description="Excluded in its settings: its requests are no longer stored.")
    suggest_exclusion: bool = Field(
        description="Not excluded, but its path looks like a health check or scrape."
    )


class Consumer(BaseModel):
    identifier: str
    name: str | None
    group: str | None
    first_seen: str
    last_seen: str
    # What the app sent with apitally 1.0's set_consumer(attributes=...); {} when nothing was sent.
    attributes: dict[str, str] = {}


class ConsumerWithStats(Stats, Consumer):
    pass


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class ConsumerPatch(BaseModel):
    """Keys present are set (null or "" clears); keys absent are left as they are."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=64)
    group: str | None = Field(None, max_length=64)

    _check_name = field_validator("name", "group")(_no_nul)


class ServerError(BaseModel):
    id: int
    env: str
    method: str | None
    path: str | None
    type: str
    msg: str
    traceback: str | None
    count: int
    first_seen: str
    last_seen: str
    consumers: list[str]
    consumer_names: dict[str, str] = Field(description="Names of the listed consumers that have one.")
    sentry_event_id: str | None = Field(
        None, description="The latest Sentry event id a client sent for this error in the range."
    )
    sentry_url: str | None = Field(
        None, description="That event in Sentry, when the app's settings hold its Sentry organisation URL."
    )


class ValidationError(BaseModel):
    id: int
    env: str
    method: str | None
    path: str | None
    loc: list[str]
    msg: str
    type: str
    count: int
    first_seen: str
    last_seen: str


class StatusCodeCount(BaseModel):
    status_code: int
    count: int
    share: float = Field(description="The code's part of the listed 4xx and 5xx responses, 0-1.")


class Errors(BaseModel):
    server_errors: list[ServerError]
    validation_errors: list[ValidationError]
    status_codes: list[StatusCodeCount] = Field(
        description="4xx and 5xx responses per status code over the range's buckets, by code (not paged)."
    )


class Instance(BaseModel):
    instance_uuid: str
    env: str
    client: str | None
    versions: dict[str, Any]
    app_version: str | None
    first_seen: str
    last_startup_at: str | None
    last_sync_at: str | None
    cpu_percent: float | None
    memory_rss: int | None


class ResourcePoint(BaseModel):
    time: str = Field(description="Start of the bucket.")
    cpu_min: float | None = Field(description="Lowest CPU percent an instance reported; null: none reported.")
    cpu_avg: float | None
    cpu_max: float | None
    memory_min: int | None = Field(description="Lowest resident memory (bytes) an instance reported.")
    memory_avg: int | None
    memory_max: int | None
    requests: int = Field(description="The env's requests in the bucket.")
    requests_per_minute: float


class EnvResources(BaseModel):
    env: str
    series: list[ResourcePoint]


class Resources(BaseModel):
    app_id: int
    start: str
    end: str
    interval: Literal["minute", "hour", "day"]
    envs: list[EnvResources] = Field(description="Each env whose instances reported resources in the range.")


class RequestLogDetails(BaseModel):
    request_headers: Any = None
    request_body: Any = None
    response_headers: Any = None
    response_body: Any = None
    exception: Any = None
    client_ip: str | None = Field(None, description="The client's address when the protocol tells it (OTLP).")
    logs: Any = None
    spans: Any = None


class RequestLog(BaseModel):
    id: int
    uuid: str
    env: str
    timestamp: str
    method: str
    path: str | None
    url: str
    status_code: int
    response_time: float = Field(description="Seconds.")
    consumer: str | None
    request_size: int | None
    response_size: int | None
    trace_id: str | None
    details: RequestLogDetails


class RequestLogPage(BaseModel):
    items: list[RequestLog]
    next_before: int | None = Field(description="Pass as `before` to get the next (older) page.")


class LoggedRequest(BaseModel):
    id: int = Field(description="The request log's id (GET /apps/{id}/request-logs/{log_id}).")
    method: str
    url: str
    status_code: int


class AppLogRecord(BaseModel):
    id: int
    env: str
    timestamp: str
    level: str | None = Field(description="Upper case, as the filter matches it.")
    logger: str | None
    message: str | None
    trace_id: str | None
    request: LoggedRequest | None = Field(
        description="The logged request the record was written in; null for an OTLP trace whose "
        "request (its SERVER span) is not stored."
    )


class AppLogPage(BaseModel):
    items: list[AppLogRecord]
    next_before: int | None = Field(description="Pass as `before` to get the next (older) page.")


class SpanExample(LoggedRequest):
    env: str
    timestamp: str = Field(description="When the span started.")
    duration_ms: float


class SpanName(BaseModel):
    name: str
    count: int
    p50_ms: float = Field(description="Estimated from logarithmic bins, within 6 %.")
    p95_ms: float = Field(description="Estimated from logarithmic bins, within 6 %.")
    examples: list[SpanExample] = Field(
        description="Up to 3 logged requests with this span at or above its p95, newest first."
    )


class SpanNames(BaseModel):
    names: list[SpanName] = Field(description="Span names, slowest (p95) first.")
    total: int = Field(description="Span names in the range (the list holds the `limit` slowest).")


class Problem(BaseModel):
    detail: str


# The answer documented for a write route whose body does not parse (Starlette's own 400).
BAD_JSON: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body is not valid JSON."}
}
