"""Alerts in the read API: an app's rules and history, a team's channels (URLs masked). Read-only:
rules and channels are written in the dashboard, where roles apply; API tokens only read."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from tallyhub.analytics.timerange import iso
from tallyhub.api import models
from tallyhub.api.auth import Caller, readable_app, require_token
from tallyhub.api.params import MAX_INT32, AppId, Limit
from tallyhub.deps import get_db
from tallyhub.monitor import channels as apprise_channels
from tallyhub.storage import alert_channels, alert_history, alert_rules
from tallyhub.storage.database import Database
from tallyhub.storage.tables import teams

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": models.Problem, "description": "Missing or unknown token."},
    404: {"model": models.Problem, "description": "Unknown app."},
}
router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(require_token)], tags=["alerts"], responses=_ERRORS
)
Db = Annotated[Database, Depends(get_db)]
Token = Annotated[Caller, Depends(require_token)]
EventBefore = Annotated[
    int | None, Query(ge=1, le=MAX_INT32, description="Return events older than this id.")
]


class AlertRule(BaseModel):
    id: int
    name: str
    env: str
    kind: str = Field(description='"metric", "env_down", "health_check_failing" or "consumer_quiet".')
    metric: str | None = Field(description="The watched metric (kind metric), e.g. p95, error_rate.")
    window_seconds: int
    interval_seconds: int
    comparison: str
    threshold: float
    scope: str | None = Field(description='None, "consumer", "group" or "endpoint".')
    scope_value: str | None
    baseline_hours: int
    fire_after: int
    resolve_after: int
    paused: bool
    state: str = Field(description='"ok" or "firing".')
    last_value: float | None
    last_checked_at: str | None
    channel_ids: list[int]


class Notification(BaseModel):
    channel_id: int
    channel: str
    status: str = Field(description='"pending" (will be retried), "sent" or "failed" (gave up).')
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    sent_at: str | None


class AlertEvent(BaseModel):
    id: int
    rule_id: int
    rule: str
    env: str
    kind: str = Field(description='"fired" or "resolved".')
    at: str
    since: str
    value: float | None
    threshold: float
    title: str
    message: str
    notifications: list[Notification]


class Channel(BaseModel):
    id: int
    team: str
    name: str
    kind: str
    url: str = Field(description="The Apprise URL with passwords and tokens hidden.")


def _iso(seconds: float | None) -> str | None:
    return iso(seconds) if seconds is not None else None


def _require_app(conn: sa.Connection, app_id: int, caller: Caller) -> None:
    if not readable_app(conn, caller, app_id):
        raise HTTPException(404, f"app {app_id} not found")


@router.get("/apps/{app_id}/alert-rules", response_model=list[AlertRule])
def list_rules(app_id: AppId, db: Db, caller: Token) -> list[dict[str, Any]]:
    """The app's alert rules with their current state."""
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        rules = alert_rules.of_app(conn, app_id)
    return [
        {
            **{f: getattr(r, f) for f in AlertRule.model_fields if hasattr(r, f)},
            "last_checked_at": _iso(r.last_checked_at),
            "channel_ids": list(r.channel_ids),
        }
        for r in rules
    ]


@router.get("/apps/{app_id}/alert-history", response_model=list[AlertEvent])
def list_history(
    app_id: AppId, db: Db, caller: Token, limit: Limit = 100, before: EventBefore = None
) -> list[dict[str, Any]]:
    """Firings and resolutions of the app's rules, newest first, with every notification's delivery."""
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        events = alert_history.events_of_app(conn, app_id, limit, before)
    return [
        {
            **e,
            "at": iso(e["at"]),
            "since": iso(e["since"]),
            "message": e["body"],
            "notifications": [
                {**n, "next_attempt_at": _iso(n["next_attempt_at"]), "sent_at": _iso(n["sent_at"])}
                for n in e["notifications"]
            ],
        }
        for e in events
    ]


@router.get("/alert-channels", response_model=list[Channel])
def list_channels(db: Db, caller: Token) -> list[dict[str, Any]]:
    """The notification channels of the token's team (every team's for a CLI token), secrets hidden."""
    with db.read() as conn:
        names = dict(conn.execute(sa.select(teams.c.id, teams.c.name)).all())
        team_ids = list(names) if caller.team_id is None else [caller.team_id]
        found = alert_channels.of_teams(conn, team_ids)
    return [
        {
            "id": c.id,
            "team": names.get(c.team_id, ""),
            "name": c.name,
            "kind": c.kind,
            "url": apprise_channels.masked(c.url),
        }
        for c in found
    ]
