"""The /api/v1 routes: thin adapters from query parameters to tallyhub.analytics, behind token auth."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam

from tallyhub.analytics import consumers, endpoints, errors, instances, request_logs, traffic
from tallyhub.analytics.query import MAX_BUCKETS, Query, check_text
from tallyhub.analytics.scope import Scope
from tallyhub.analytics.times import iso
from tallyhub.api import models
from tallyhub.api.auth import Caller, readable_app, require_token
from tallyhub.api.data_query import PARAMS, DataQuery
from tallyhub.api.deps import get_db
from tallyhub.api.params import AppId, Before, Limit, as_422
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
LogsQuery = Annotated[
    Query, Depends(DataQuery("env", "start", "end", "consumer", "method", "path", "status"))
]


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
        }
        for a in found
    ]


@router.get("/apps/{app_id}/traffic", response_model=models.Traffic)
def get_traffic(app_id: AppId, db: Db, caller: Token, query: TrafficQuery) -> dict[str, Any]:
    """Totals and a zero-filled series over [start, end), widened to whole buckets of the interval."""
    with _scope(db, caller, app_id, query) as scope:
        result = traffic.traffic(scope.conn, scope.resolved, scope.tr, scope.apdex_t)
    return {
        "app_id": app_id,
        "env": query.filters.env,
        "start": iso(query.range.start),
        "end": iso(query.range.end),
        "interval": query.range.interval,
        **result,
    }


@router.get("/apps/{app_id}/endpoints", response_model=list[models.Endpoint])
def list_endpoints(app_id: AppId, db: Db, caller: Token, query: EndpointsQuery) -> list[dict[str, Any]]:
    """Endpoints (including those never called) with their statistics over the range."""
    with _scope(db, caller, app_id, query) as scope:
        return endpoints.list_endpoints(scope.conn, scope.resolved, scope.tr, scope.apdex_t)


@router.get("/apps/{app_id}/consumers", response_model=list[models.ConsumerWithStats])
def list_consumers(app_id: AppId, db: Db, caller: Token, query: ConsumersQuery) -> list[dict[str, Any]]:
    """Consumers (in the group, if given) with their statistics over the range, busiest first."""
    with _scope(db, caller, app_id, query) as scope:
        return consumers.list_consumers(scope.conn, app_id, scope.resolved, scope.tr, scope.apdex_t)


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
def list_errors(app_id: AppId, db: Db, caller: Token, query: ErrorsQuery) -> dict[str, Any]:
    """Server and validation errors counted over the range (whole minutes), most frequent first."""
    with _scope(db, caller, app_id, query) as scope:
        return errors.list_errors(scope.conn, scope.resolved, *scope.minute_range)


@router.get("/apps/{app_id}/instances", response_model=list[models.Instance])
def list_instances(app_id: AppId, db: Db, caller: Token, query: InstancesQuery) -> list[dict[str, Any]]:
    """Instances of the app's environments, most recently synced first."""
    with _scope(db, caller, app_id, query) as scope:
        return instances.list_instances(scope.conn, scope.resolved)


@router.get("/apps/{app_id}/request-logs", response_model=models.RequestLogPage)
def list_request_logs(
    app_id: AppId, db: Db, caller: Token, query: LogsQuery, limit: Limit = 100, before: Before = None
) -> dict[str, Any]:
    """Logged requests, newest first; page with `before` = the previous page's next_before."""
    # The method is matched on the logged method, so that requests to unknown routes match it too: it
    # is not resolved to endpoints.
    method = query.filters.method
    by_endpoint = dataclasses.replace(query, filters=dataclasses.replace(query.filters, method=None))
    with _scope(db, caller, app_id, by_endpoint) as scope:
        return request_logs.list_request_logs(
            scope.conn, scope.resolved, query.start, query.end, limit, before, method=method
        )
