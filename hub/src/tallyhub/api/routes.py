"""The /api/v1 routes: thin adapters from query parameters to tallyhub.analytics, behind token auth."""

from __future__ import annotations

import time
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam

from tallyhub.analytics import (
    consumers,
    endpoints,
    errors,
    filters,
    instances,
    request_logs,
    timerange,
    traffic,
)
from tallyhub.analytics.filters import Filters
from tallyhub.api import models
from tallyhub.api.auth import Caller, readable_app, require_token
from tallyhub.api.deps import get_db, get_settings
from tallyhub.api.params import (
    ApdexT,
    AppId,
    Before,
    ConsumerQ,
    End,
    Env,
    Group,
    Interval,
    Limit,
    Method,
    PathQ,
    Start,
    Status,
    as_422,
)
from tallyhub.settings import Settings
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
Config = Annotated[Settings, Depends(get_settings)]
# FastAPI caches dependencies per request: this is the router's require_token call, not a second one.
Token = Annotated[Caller, Depends(require_token)]


def _require_app(conn: sa.Connection, app_id: int, caller: Caller) -> None:
    # Another team's app answers exactly as a missing one: its existence is not revealed.
    if not readable_app(conn, caller, app_id):
        raise HTTPException(404, f"app {app_id} not found")


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
            "created_at": timerange.iso(a.created_at),
        }
        for a in found
    ]


@router.get("/apps/{app_id}/traffic", response_model=models.Traffic)
def get_traffic(
    app_id: AppId,
    db: Db,
    caller: Token,
    settings: Config,
    env: Env = None,
    start: Start = None,
    end: End = None,
    interval: Interval = None,
    consumer: ConsumerQ = None,
    group: Group = None,
    method: Method = None,
    path: PathQ = None,
    status: Status = None,
    apdex_t: ApdexT = None,
) -> dict[str, Any]:
    """Totals and a zero-filled series over [start, end), widened to whole buckets of the interval."""
    wanted = Filters(env=env, consumer=consumer, group=group, method=method, path=path, status=status)
    with as_422():
        filters.validate(wanted)
        tr = timerange.resolve(start, end, interval, time.time())
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        resolved = filters.resolve(conn, app_id, wanted)
        result = traffic.traffic(conn, resolved, tr, apdex_t or settings.apdex_threshold_ms)
    return {
        "app_id": app_id,
        "env": env,
        "start": timerange.iso(tr.start),
        "end": timerange.iso(tr.end),
        "interval": tr.interval,
        **result,
    }


@router.get("/apps/{app_id}/endpoints", response_model=list[models.Endpoint])
def list_endpoints(
    app_id: AppId,
    db: Db,
    caller: Token,
    settings: Config,
    env: Env = None,
    start: Start = None,
    end: End = None,
    method: Method = None,
    path: PathQ = None,
    apdex_t: ApdexT = None,
) -> list[dict[str, Any]]:
    """Endpoints (including those never called) with their statistics over the range."""
    wanted = Filters(env=env, method=method, path=path)
    with as_422():
        filters.validate(wanted)
        tr = timerange.resolve(start, end, None, time.time(), max_buckets=None)
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        resolved = filters.resolve(conn, app_id, wanted)
        return endpoints.list_endpoints(conn, resolved, tr, apdex_t or settings.apdex_threshold_ms)


@router.get("/apps/{app_id}/consumers", response_model=list[models.ConsumerWithStats])
def list_consumers(
    app_id: AppId,
    db: Db,
    caller: Token,
    settings: Config,
    env: Env = None,
    start: Start = None,
    end: End = None,
    group: Group = None,
    apdex_t: ApdexT = None,
) -> list[dict[str, Any]]:
    """Consumers (in the group, if given) with their statistics over the range, busiest first."""
    wanted = Filters(env=env, group=group)
    with as_422():
        filters.validate(wanted)
        tr = timerange.resolve(start, end, None, time.time(), max_buckets=None)
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        resolved = filters.resolve(conn, app_id, wanted)
        return consumers.list_consumers(conn, app_id, resolved, tr, apdex_t or settings.apdex_threshold_ms)


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
        filters.check_text("identifier", identifier, 128)
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
    env: Env = None,
    start: Start = None,
    end: End = None,
    consumer: ConsumerQ = None,
    method: Method = None,
    path: PathQ = None,
) -> dict[str, Any]:
    """Server and validation errors counted over the range (whole minutes), most frequent first."""
    wanted = Filters(env=env, consumer=consumer, method=method, path=path)
    with as_422():
        filters.validate(wanted)
        tr = timerange.resolve(start, end, "minute", time.time(), max_buckets=None)
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        resolved = filters.resolve(conn, app_id, wanted)
        return errors.list_errors(conn, resolved, tr.start, tr.end)


@router.get("/apps/{app_id}/instances", response_model=list[models.Instance])
def list_instances(app_id: AppId, db: Db, caller: Token, env: Env = None) -> list[dict[str, Any]]:
    """Instances of the app's environments, most recently synced first."""
    wanted = Filters(env=env)
    with as_422():
        filters.validate(wanted)
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        return instances.list_instances(conn, filters.resolve(conn, app_id, wanted))


@router.get("/apps/{app_id}/request-logs", response_model=models.RequestLogPage)
def list_request_logs(
    app_id: AppId,
    db: Db,
    caller: Token,
    env: Env = None,
    start: Start = None,
    end: End = None,
    consumer: ConsumerQ = None,
    method: Method = None,
    path: PathQ = None,
    status: Status = None,
    limit: Limit = 100,
    before: Before = None,
) -> dict[str, Any]:
    """Logged requests, newest first; page with `before` = the previous page's next_before."""
    wanted = Filters(env=env, consumer=consumer, path=path, status=status)
    with as_422():
        filters.validate(wanted)
        filters.check_text("method", method, 16)
        start_s, end_s = timerange.parse_range(start, end, time.time())
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        resolved = filters.resolve(conn, app_id, wanted)
        return request_logs.list_request_logs(conn, resolved, start_s, end_s, limit, before, method=method)
