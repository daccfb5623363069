"""The read API's request-log and app-log filters, CSV negotiation: documented here, parsed in analytics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import Header, Query
from starlette.responses import StreamingResponse

from tallyhub.analytics.app_logs import AppLogFilters, parse_app_log_filters
from tallyhub.analytics.log_query import LogFilters, parse_log_filters
from tallyhub.api.params import as_422

CSV_TYPE = "text/csv; charset=utf-8"
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with Accept: text/csv or format=csv."}
}

Format = Annotated[
    Literal["json", "csv"] | None, Query(description="csv: the same data as CSV (as Accept: text/csv).")
]
Accept = Annotated[str | None, Header(include_in_schema=False)]


def log_filters(
    client_ip: Annotated[str | None, Query(description="The client's address, exactly.")] = None,
    url: Annotated[str | None, Query(description="Substring of the URL, any case.")] = None,
    request_body: Annotated[str | None, Query(description="Substring of the request body, any case.")] = None,
    response_body: Annotated[
        str | None, Query(description="Substring of the response body, any case.")
    ] = None,
    request_size_min: Annotated[str | None, Query(description="Bytes, inclusive.")] = None,
    request_size_max: Annotated[str | None, Query(description="Bytes, inclusive.")] = None,
    response_size_min: Annotated[str | None, Query(description="Bytes, inclusive.")] = None,
    response_size_max: Annotated[str | None, Query(description="Bytes, inclusive.")] = None,
    response_time_min: Annotated[str | None, Query(description="Milliseconds, inclusive.")] = None,
    response_time_max: Annotated[str | None, Query(description="Milliseconds, inclusive.")] = None,
    has_exception: Annotated[str | None, Query(description="true: only requests with an exception.")] = None,
    trace_id: Annotated[str | None, Query(description="32 hexadecimal digits.")] = None,
) -> LogFilters:
    """The request-log filters of the query string; a 422 names a bad one."""
    with as_422():
        return parse_log_filters({k: v for k, v in locals().items() if isinstance(v, str)})


def app_log_filters(
    level: Annotated[
        str | None, Query(description="The record's level, exactly, any case (e.g. ERROR).")
    ] = None,
    logger: Annotated[str | None, Query(description="The logger's name, exactly.")] = None,
    message: Annotated[str | None, Query(description="Substring of the message, any case.")] = None,
) -> AppLogFilters:
    """The application-log filters of the query string; a 422 names a bad one."""
    with as_422():
        return parse_app_log_filters({k: v for k, v in locals().items() if isinstance(v, str)})


def wants_csv(format: str | None, accept: str | None) -> bool:
    """format=csv, or (no format given) an Accept header naming text/csv."""
    if format is not None:
        return format == "csv"
    return accept is not None and "text/csv" in accept.lower()


def csv_response(chunks: Iterator[str] | Iterator[bytes], filename: str) -> StreamingResponse:
    """A CSV download streamed as it is written (text is sent as UTF-8)."""
    return StreamingResponse(
        (chunk.encode() if isinstance(chunk, str) else chunk for chunk in chunks),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
