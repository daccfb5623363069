"""The /api/v1 routes: thin adapters from query parameters to tallyhub.analytics, behind token auth."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi import Path as PathParam
from fastapi import Query as QueryParam

from tallyhub.analytics import (
    app_logs,
    consumers,
    csv_export,
    endpoints,
    errors,
    instances,
    request_logs,
    resources,
    spans,
    traffic,
)
from tallyhub.analytics.app_logs import AppLogFilters
from tallyhub.analytics.log_query import LogFilters
from tallyhub.analytics.paging import Page
from tallyhub.analytics.query import MAX_BUCKETS, Query, check_text
from tallyhub.analytics.scope import Scope
from tallyhub.analytics.times import iso
from tallyhub.api import models
from tallyhub.api.auth import Caller, readable_app, require_token
from tallyhub.api.data_query import PARAMS, DataQuery
from tallyhub.api.deps import get_db
from tallyhub.api.log_params import (
    CSV_RESPONSE,
    Accept,
    Format,
    app_log_filters,
    csv_response,
    log_filters,
    wants_csv,
)
from tallyhub.api.params import AppId, Before, Direction, Limit, Offset, as_422
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": models.Problem, "description": "Missing or unknown token."},
    404: {"model": models.Problem, "description": "Unknown app (or consumer)."},
}
router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(require_token)], tags=["read API"], responses=_ERRORS
)

Db = Annotated[Database, Depends(get_db)]
# FastAPI caches dependencies per request: this is the router's require_token call, not a second one.
Token = Annotated[Caller, Depends(require_token)]


# Each route's data-request parameters (the traffic route takes them all).
TrafficQuery = Annotated[Query, Depends(DataQuery(*PARAMS, max_buckets=MAX_BUCKETS))]
EndpointsQuery = Annotated[Query, Depends(DataQuery("env", "start", "end", "method", "path", "apdex_t"))]
ConsumersQuery = Annotated[Query, Depends(DataQuery("env", "start", "end", "group", "apdex_t"))]
ErrorsQuery = Annotated[Query, Depends(DataQuery("env", "start", "end", "consumer", "method", "path"))]
InstancesQuery = Annotated[Query, Depends(DataQuery("env"))]
ResourcesQuery = Annotated[
    Query, Depends(DataQuery("env", "start", "end", "interval", max_buckets=MAX_BUCKETS))
]
LogsQuery = Annotated[
    Query, Depends(DataQuery("env", "start", "end", "consumer", "group", "method", "path", "status"))
]
LogFiltersQuery = Annotated[LogFilters, Depends(log_filters)]
# Log records and spans have an env and a time only.
RangeQuery = Annotated[Query, Depends(DataQuery("env", "start", "end"))]
AppLogFiltersQuery = Annotated[AppLogFilters, Depends(app_log_filters)]
TrafficTable = Annotated[
    Literal["series", "endpoints"],
    QueryParam(description="With CSV: the series (one line per bucket) or the endpoints table."),
]


TOTAL_HEADER = "X-Total-Count"
ConsumerSort = Annotated[
    Literal["requests", "errors", "identifier", "name", "group", "first_seen", "last_seen"],
    QueryParam(description="Sort key; requests, errors and times sort descending by default."),
]
EndpointSort = Annotated[
    Literal["path", "method", "requests", "errors", "p95"],
    QueryParam(description="Sort key; path and method sort ascending by default, figures descending."),
]
IncludeHidden = Annotated[bool, QueryParam(description="Also list the endpoints hidden in their settings.")]
ErrorSort = Annotated[
    Literal["count", "last_seen", "first_seen"], QueryParam(description="Sort key (descending by default).")
]


def _page(limit: int, offset: int, sort: str, direction: str | None, ascending: tuple[str, ...]) -> Page:
    return Page(limit, offset, sort, sort not in ascending if direction is None else direction == "desc")


def _require_app(conn: sa.Connection, app_id: int, caller: Caller) -> None:
    # Another team's app answers exactly as a missing one: its existence is not revealed.
    if not readable_app(conn, caller, app_id):
        raise HTTPException(404, f"app {app_id} not found")


@contextmanager
def _scope(db: Database, caller: Caller, app_id: int, query: Query) -> Iterator[Scope]:
    """The query read for the app, which the caller must be able to read."""
    with Scope.open(db, app_id, query) as scope:
        _require_app(scope.conn, app_id, caller)
        yield scope


@router.get("/apps", response_model=list[models.AppInfo])
def list_apps(db: Db, caller: Token) -> list[dict[str, Any]]:
    """Every app the token may read, with its client ID and environments."""
    with db.read() as conn:
        found = [a for a in app_store.list_apps(conn) if readable_app(conn, caller, a.id)]
    return [
        {
            "id": a.id,
            "name": a.name,
            "client_id": a.client_id,
            "envs": list(a.envs),
            "created_at": iso(a.created_at),
            "framework": a.framework,
        }
        for a in found
    ]


@router.get("/apps/{app_id}/traffic", response_model=models.Traffic, responses=CSV_RESPONSE)
def get_traffic(
    app_id: AppId,
    db: Db,
    caller: Token,
    query: TrafficQuery,
    format: Format = None,
    accept: Accept = None,
    table: TrafficTable = "series",
) -> Any:
    """Totals and a zero-filled series over [start, end), widened to whole buckets of the interval.

    As CSV (Accept: text/csv or format=csv): the series, or with table=endpoints the endpoints table.
    """
    with _scope(db, caller, app_id, query) as scope:
        result = traffic.traffic(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
        listed = (
            endpoints.list_endpoints(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
            if table == "endpoints"
            else []
        )
    if wants_csv(format, accept):
        if table == "endpoints":
            return csv_response(csv_export.traffic_endpoints_csv(listed), f"traffic-endpoints-{app_id}.csv")
        return csv_response(csv_export.traffic_series_csv(result["series"]), f"traffic-{app_id}.csv")
    return {
        "app_id": app_id,
        "env": query.filters.env,
        "start": iso(query.range.start),
        "end": iso(query.range.end),
        "interval": query.range.interval,
        **result,
    }


@router.get("/apps/{app_id}/endpoints", response_model=list[models.Endpoint])
def list_endpoints(
    app_id: AppId,
    db: Db,
    caller: Token,
    query: EndpointsQuery,
    response: Response,
    limit: Limit = 1000,
    offset: Offset = 0,
    sort: EndpointSort = "path",
    dir: Direction = None,
    include_hidden: IncludeHidden = False,
) -> list[dict[str, Any]]:
    """Endpoints (including those never called) with their statistics over the range, a page at a time."""
    with _scope(db, caller, app_id, query) as scope:
        listed = endpoints.list_endpoints(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
    listed = endpoints.shown(listed, include_hidden)
    response.headers[TOTAL_HEADER] = str(len(listed))
    return endpoints.sorted_page(listed, _page(limit, offset, sort, dir, ("path", "method")))


@router.get("/apps/{app_id}/consumers", response_model=list[models.ConsumerWithStats])
def list_consumers(
    app_id: AppId,
    db: Db,
    caller: Token,
    query: ConsumersQuery,
    response: Response,
    limit: Limit = 1000,
    offset: Offset = 0,
    sort: ConsumerSort = "requests",
    dir: Direction = None,
) -> list[dict[str, Any]]:
    """Consumers (in the group, if given) with their statistics over the range, busiest first by default."""
    page = _page(limit, offset, sort, dir, ("identifier", "name", "group"))
    with _scope(db, caller, app_id, query) as scope:
        listed, total = consumers.list_consumers(
            scope.conn, app_id, scope.resolved, scope.tr, scope.apdex_t, page
        )
    response.headers[TOTAL_HEADER] = str(total)
    return listed


@router.patch(
    "/apps/{app_id}/consumers/{identifier:path}",
    response_model=models.Consumer,
    responses={400: {"model": models.Problem, "description": "The body is not valid JSON."}},
)
def patch_consumer(
    app_id: AppId,
    identifier: Annotated[str, PathParam(min_length=1, max_length=128, description="Consumer identifier.")],
    body: models.ConsumerPatch,
    db: Db,
    caller: Token,
) -> dict[str, Any]:
    """Set a consumer's name and/or group as a person chose them; clients can no longer overwrite them."""
    with as_422("path"):
        check_text("identifier", identifier, 128)
    with db.read() as conn:
        _require_app(conn, app_id, caller)
    changes = body.model_dump(include=body.model_fields_set)
    updated = consumers.update_consumer(db, app_id, identifier, changes)
    if updated is None:
        raise HTTPException(404, f"consumer {identifier!r} not found")
    return updated


@router.get("/apps/{app_id}/errors", response_model=models.Errors)
def list_errors(
    app_id: AppId,
    db: Db,
    caller: Token,
    query: ErrorsQuery,
    response: Response,
    limit: Limit = 1000,
    offset: Offset = 0,
    sort: ErrorSort = "count",
    dir: Direction = None,
) -> dict[str, Any]:
    """Server and validation errors counted over the range (whole minutes), most frequent first by default.

    The page applies to each list; X-Total-Count is their sum, X-Total-Server-Errors and
    X-Total-Validation-Errors each list's.
    """
    with _scope(db, caller, app_id, query) as scope:
        found = errors.list_errors(scope.conn, scope.resolved, *scope.minute_range)
        codes = errors.status_codes(scope.conn, scope.resolved, scope.tr, minimum=400)
    page = _page(limit, offset, sort, dir, ())
    response.headers["X-Total-Server-Errors"] = str(len(found["server_errors"]))
    response.headers["X-Total-Validation-Errors"] = str(len(found["validation_errors"]))
    response.headers[TOTAL_HEADER] = str(sum(len(v) for v in found.values()))
    paged = {kind: errors.sorted_page(listed, page) for kind, listed in found.items()}
    return {**paged, "status_codes": codes}


@router.get("/apps/{app_id}/instances", response_model=list[models.Instance])
def list_instances(app_id: AppId, db: Db, caller: Token, query: InstancesQuery) -> list[dict[str, Any]]:
    """Instances of the app's environments, most recently synced first."""
    with _scope(db, caller, app_id, query) as scope:
        return instances.list_instances(scope.conn, scope.resolved)


@router.get("/apps/{app_id}/resources", response_model=models.Resources)
def get_resources(app_id: AppId, db: Db, caller: Token, query: ResourcesQuery) -> dict[str, Any]:
    """Per env, the min, average and max of its instances' CPU and memory per bucket, and its request rate."""
    with _scope(db, caller, app_id, query) as scope:
        envs = resources.resource_series(scope.conn, scope.resolved, scope.tr)
    return {
        "app_id": app_id,
        "start": iso(query.range.start),
        "end": iso(query.range.end),
        "interval": query.range.interval,
        "envs": envs,
    }


@router.get("/apps/{app_id}/request-logs", response_model=models.RequestLogPage, responses=CSV_RESPONSE)
def list_request_logs(
    app_id: AppId,
    db: Db,
    caller: Token,
    query: LogsQuery,
    logs: LogFiltersQuery,
    limit: Limit = 100,
    before: Before = None,
    format: Format = None,
    accept: Accept = None,
) -> Any:
    """Logged requests, newest first; page with `before` = the previous page's next_before.

    As CSV (Accept: text/csv or format=csv): every matching request, newest first, up to 1,000,000
    rows, streamed; cells that a spreadsheet would run as formulas start with an apostrophe.
    """
    # The method is matched on the logged method, so that requests to unknown routes match it too: it
    # is not resolved to endpoints.
    method = query.filters.method
    by_endpoint = dataclasses.replace(query, filters=dataclasses.replace(query.filters, method=None))
    if wants_csv(format, accept):
        with _scope(db, caller, app_id, by_endpoint) as scope:
            terms = request_logs.conditions(scope.conn, scope.resolved, query.start, query.end, method, logs)
            resolved = scope.resolved
        chunks = csv_export.request_logs_csv_bytes(db, resolved, terms)
        return csv_response(chunks, f"request-logs-{app_id}.csv")
    with _scope(db, caller, app_id, by_endpoint) as scope:
        return request_logs.list_request_logs(
            scope.conn, scope.resolved, query.start, query.end, limit, before, method=method, logs=logs
        )


@router.get("/apps/{app_id}/request-logs/{log_id}", response_model=models.RequestLog)
def get_request_log(
    app_id: AppId, log_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], db: Db, caller: Token
) -> Any:
    """One logged request with its headers, bodies, exception, application logs and trace."""
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        found = request_logs.get_request_log(conn, app_store.app_envs(conn, app_id), log_id)
    if found is None:
        raise HTTPException(404, f"request log {log_id} not found")
    return found


@router.get("/apps/{app_id}/app-logs", response_model=models.AppLogPage)
def list_app_logs(
    app_id: AppId,
    db: Db,
    caller: Token,
    query: RangeQuery,
    filters: AppLogFiltersQuery,
    limit: Limit = 100,
    before: Before = None,
) -> Any:
    """Application log records of the app's logged requests, newest first, each with its request;
    page with `before` = the previous page's next_before."""
    with _scope(db, caller, app_id, query) as scope:
        return app_logs.list_app_logs(
            scope.conn, scope.resolved.env_names, query.start, query.end, limit, before, filters
        )


SpanLimit = Annotated[int, QueryParam(ge=1, le=200, description="Span names to return, slowest first.")]


@router.get("/apps/{app_id}/spans", response_model=models.SpanNames)
def list_spans(app_id: AppId, db: Db, caller: Token, query: RangeQuery, limit: SpanLimit = 50) -> Any:
    """Spans of the app's logged requests grouped by name: count, p50 and p95 over the range, slowest
    first, each with example requests."""
    with _scope(db, caller, app_id, query) as scope:
        return spans.slowest_spans(scope.conn, scope.resolved.env_names, query.start, query.end, limit)
