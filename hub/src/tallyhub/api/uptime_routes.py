"""Uptime routes of /api/v1: uptime and incidents per env; health checks (create, edit, pause, delete).

Writes take the same bearer tokens as reads, as PATCH /consumers does: tokens are made by a team's
admins (or the CLI) and a team token reaches only its team's apps.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi import Path as PathParam

from tallyhub.analytics.times import iso
from tallyhub.api import uptime_models as models
from tallyhub.api.auth import Caller, readable_app, require_token
from tallyhub.api.deps import get_db, get_policy
from tallyhub.api.models import BAD_JSON, Problem
from tallyhub.api.params import MAX_INT32, AppId, Env, invalid_field
from tallyhub.outbound.policy import Policy
from tallyhub.storage.apps import app_envs, env_id_for
from tallyhub.storage.database import Database
from tallyhub.uptime import checks as check_store
from tallyhub.uptime.figures import check_percentages, env_uptime

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(require_token)],
    tags=["uptime"],
    responses={
        401: {"model": Problem, "description": "Missing or unknown token."},
        404: {"model": Problem, "description": "Unknown app, env or health check."},
    },
)
Db = Annotated[Database, Depends(get_db)]
Token = Annotated[Caller, Depends(require_token)]
OutboundPolicy = Annotated[Policy, Depends(get_policy)]
CheckId = Annotated[int, PathParam(ge=1, le=MAX_INT32, description="The health check's id.")]


def _require_app(conn: sa.Connection, app_id: int, caller: Caller) -> None:
    if not readable_app(conn, caller, app_id):
        raise HTTPException(404, f"app {app_id} not found")


def _env_id(conn: sa.Connection, app_id: int, env: str, location: str) -> int:
    found = env_id_for(conn, app_id, env)
    if found is None:
        raise invalid_field(location, "env", f"the app has no environment {env!r}", env)
    return int(found)


def _check_json(conn: sa.Connection, check: dict[str, Any], now: float) -> dict[str, Any]:
    last = check["last_result"]
    return {
        **{k: check[k] for k in ("id", "env", "url", "method", "expected_status", "body_contains")},
        **{k: check[k] for k in ("timeout_seconds", "interval_seconds", "paused")},
        "created_at": iso(check["created_at"]),
        "last_result": None if last is None else {**last, "checked_at": iso(last["checked_at"])},
        "uptime": check_percentages(conn, check, now),
    }


def _one_check(conn: sa.Connection, app_id: int, check_id: int) -> dict[str, Any]:
    found = check_store.checks_of_app(conn, app_id, check_id)
    if not found:
        raise HTTPException(404, f"health check {check_id} not found")
    return found[0]


def _spec(raw: dict[str, Any], policy: Policy) -> check_store.CheckSpec:
    try:
        return check_store.validate(raw, policy)
    except check_store.InvalidField as exc:
        raise invalid_field("body", exc.field, exc.message, raw.get(exc.field)) from None


@router.get("/apps/{app_id}/uptime", response_model=models.AppUptime)
def get_uptime(app_id: AppId, db: Db, caller: Token, env: Env = None) -> dict[str, Any]:
    """Per env: up or down now, uptime over 24 h / 7 d / 30 d / 90 d, daily bars, incidents, health checks."""
    now = time.time()
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        env_ids = sorted(app_envs(conn, app_id).items(), key=lambda item: item[1])
        if env is not None:
            wanted = _env_id(conn, app_id, env, "query")
            env_ids = [item for item in env_ids if item[0] == wanted]
        checks = check_store.checks_of_app(conn, app_id)
        result = []
        for env_id, _name in env_ids:
            up = env_uptime(conn, env_id, now)
            result.append(
                {
                    **{
                        k: v
                        for k, v in dataclasses.asdict(up).items()
                        if k in ("env", "state", "heartbeat_enabled")
                    },
                    "since": iso(up.since) if up.since is not None else None,
                    "monitored_since": iso(up.monitored_since) if up.monitored_since is not None else None,
                    "uptime": up.percentages,
                    "days": [{"date": iso(d.start)[:10], "uptime": d.percent} for d in up.days],
                    "incidents": [
                        {
                            **i,
                            "env": up.env,
                            "started_at": iso(i["started_at"]),
                            "ended_at": iso(i["ended_at"]) if i["ended_at"] is not None else None,
                        }
                        for i in up.incidents
                    ],
                    "health_checks": [_check_json(conn, c, now) for c in checks if c["env_id"] == env_id],
                }
            )
    return {"app_id": app_id, "envs": result}


@router.get("/apps/{app_id}/health-checks", response_model=list[models.HealthCheck])
def list_checks(app_id: AppId, db: Db, caller: Token) -> list[dict[str, Any]]:
    """The app's health checks with their latest result and uptime."""
    now = time.time()
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        return [_check_json(conn, c, now) for c in check_store.checks_of_app(conn, app_id)]


@router.get("/apps/{app_id}/health-checks/{check_id}", response_model=models.HealthCheck)
def get_check(app_id: AppId, check_id: CheckId, db: Db, caller: Token) -> dict[str, Any]:
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        return _check_json(conn, _one_check(conn, app_id, check_id), time.time())


@router.post(
    "/apps/{app_id}/health-checks", response_model=models.HealthCheck, status_code=201, responses=BAD_JSON
)
def create_check(
    app_id: AppId, body: models.HealthCheckCreate, db: Db, caller: Token, policy: OutboundPolicy
) -> dict[str, Any]:
    """Add a health check; it runs within a few seconds, then every interval_seconds.

    422 when a field is wrong, the URL included when the hub's outbound policy refuses its host.
    """
    spec = _spec(body.model_dump(), policy)
    now = time.time()
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        check_id = check_store.create(conn, _env_id(conn, app_id, body.env, "body"), spec, now)
        if body.paused:
            check_store.set_paused(conn, check_id, True, now)
    with db.read() as conn:
        return _check_json(conn, _one_check(conn, app_id, check_id), now)


@router.patch(
    "/apps/{app_id}/health-checks/{check_id}", response_model=models.HealthCheck, responses=BAD_JSON
)
def patch_check(
    app_id: AppId,
    check_id: CheckId,
    body: models.HealthCheckPatch,
    db: Db,
    caller: Token,
    policy: OutboundPolicy,
) -> dict[str, Any]:
    """Change a check's settings and/or pause or resume it (pausing ends its open incident)."""
    now = time.time()
    changes = body.model_dump(include=body.model_fields_set)
    paused = changes.pop("paused", None)
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        current = _one_check(conn, app_id, check_id)
        if changes:
            fields = [f.name for f in dataclasses.fields(check_store.CheckSpec)]
            check_store.update(
                conn, check_id, _spec({**{f: current[f] for f in fields}, **changes}, policy), now
            )
        if paused is not None and paused != current["paused"]:
            check_store.set_paused(conn, check_id, paused, now)
    with db.read() as conn:
        return _check_json(conn, _one_check(conn, app_id, check_id), now)


@router.delete("/apps/{app_id}/health-checks/{check_id}", status_code=204)
def delete_check(app_id: AppId, check_id: CheckId, db: Db, caller: Token) -> Response:
    """Delete a check with its results and incidents."""
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        _one_check(conn, app_id, check_id)
        check_store.delete(conn, check_id)
    return Response(status_code=204)


@router.put("/apps/{app_id}/envs/{env}/heartbeat", response_model=models.Heartbeat, responses=BAD_JSON)
def set_heartbeat(
    app_id: AppId,
    env: Annotated[str, PathParam(min_length=1, max_length=32)],
    body: models.HeartbeatSwitch,
    db: Db,
    caller: Token,
) -> dict[str, Any]:
    """Switch heartbeat monitoring of an env on or off (off ends its open heartbeat incident)."""
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        env_id = env_id_for(conn, app_id, env)
        if env_id is None:
            raise HTTPException(404, f"the app has no environment {env!r}")
        check_store.set_heartbeat(conn, env_id, body.enabled, time.time())
    return {"env": env, "enabled": body.enabled}
