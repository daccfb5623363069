"""Alert rules in the API: an app's rules (list, read, create, change, pause, delete) and its history.

Writes take the same bearer tokens as reads, as the health checks do (a team token reaches only its
team's apps). A rule is checked by the dashboard form's own validation (alerts.rule_spec.parse_form),
so a rule the API accepts is one the dashboard would accept, and the 422 names the same field.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi import Path as PathParam

from tallyhub.alerts import history as alert_history
from tallyhub.alerts import rule_spec
from tallyhub.alerts import rules as alert_rules
from tallyhub.analytics.times import iso
from tallyhub.api import models
from tallyhub.api.alert_models import AlertEvent, AlertRule, AlertRuleCreate, AlertRulePatch
from tallyhub.api.auth import Caller, readable_app, require_token
from tallyhub.api.deps import get_db
from tallyhub.api.params import MAX_INT32, AppId, Limit, invalid_field
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": models.Problem, "description": "Missing or unknown token."},
    404: {"model": models.Problem, "description": "Unknown app or alert rule."},
}
router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(require_token)], tags=["alerts"], responses=_ERRORS
)
Db = Annotated[Database, Depends(get_db)]
Token = Annotated[Caller, Depends(require_token)]
EventBefore = Annotated[
    int | None, Query(ge=1, le=MAX_INT32, description="Return events older than this id.")
]
RuleId = Annotated[int, PathParam(ge=1, le=MAX_INT32, description="The alert rule's id.")]
_SPEC_FIELDS = [f.name for f in dataclasses.fields(rule_spec.RuleSpec)]


def _iso(seconds: float | None) -> str | None:
    return iso(seconds) if seconds is not None else None


def _require_app(conn: sa.Connection, app_id: int, caller: Caller) -> None:
    if not readable_app(conn, caller, app_id):
        raise HTTPException(404, f"app {app_id} not found")


def _rule_json(rule: alert_rules.Rule) -> dict[str, Any]:
    return {
        **{f: getattr(rule, f) for f in AlertRule.model_fields if hasattr(rule, f)},
        "last_checked_at": _iso(rule.last_checked_at),
        "next_check_at": None if rule.paused else _iso(rule.next_check_at),
        "channel_ids": list(rule.channel_ids),
    }


def _one_rule(conn: sa.Connection, app_id: int, rule_id: int) -> alert_rules.Rule:
    rule = alert_rules.get(conn, rule_id)
    if rule is None or rule.app_id != app_id:
        raise HTTPException(404, f"alert rule {rule_id} not found")
    return rule


def _as_form(fields: dict[str, Any]) -> dict[str, str]:
    """The body as the dashboard's form would send it: absent or null is an empty field."""
    return {name: "" if value is None else str(value) for name, value in fields.items()}


def _spec(conn: sa.Connection, app_id: int, fields: dict[str, Any]) -> rule_spec.RuleSpec:
    form = _as_form(fields)
    try:
        return rule_spec.parse_form(form, list(app_store.app_envs(conn, app_id).values()))
    except rule_spec.RuleError as exc:
        # The input is echoed as text: a float such as inf has no JSON spelling.
        raise invalid_field("body", exc.field, exc.message, form.get(exc.field)) from None


def _check_channels(conn: sa.Connection, team_id: int | None, channel_ids: list[int]) -> None:
    """Every channel must be one of the app's team: an unknown one is a 422, never silently dropped."""
    unknown = sorted(set(channel_ids) - alert_rules.team_channels(conn, team_id, channel_ids))
    if unknown:
        message = f"no channel {', '.join(map(str, unknown))} in the app's team"
        raise invalid_field("body", "channel_ids", message, channel_ids)


@router.get("/apps/{app_id}/alert-rules", response_model=list[AlertRule])
def list_rules(app_id: AppId, db: Db, caller: Token) -> list[dict[str, Any]]:
    """The app's alert rules with their current state."""
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        return [_rule_json(r) for r in alert_rules.of_app(conn, app_id)]


@router.get("/apps/{app_id}/alert-rules/{rule_id}", response_model=AlertRule)
def get_rule(app_id: AppId, rule_id: RuleId, db: Db, caller: Token) -> dict[str, Any]:
    """One alert rule with its current state."""
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        return _rule_json(_one_rule(conn, app_id, rule_id))


@router.post(
    "/apps/{app_id}/alert-rules", response_model=AlertRule, status_code=201, responses=models.BAD_JSON
)
def create_rule(app_id: AppId, body: AlertRuleCreate, db: Db, caller: Token) -> dict[str, Any]:
    """Add a rule (checked at once, then every interval_seconds), notifying channels of the app's team.

    The fields a kind does not use are ignored, as in the dashboard's form. 422 names the first
    invalid field.
    """
    now = time.time()
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        spec = _spec(conn, app_id, body.model_dump(include=set(_SPEC_FIELDS)))
        team_id = app_store.team_of_app(conn, app_id)
        _check_channels(conn, team_id, body.channel_ids)
        rule_id = alert_rules.create(conn, app_id, spec, now)
        alert_rules.set_channels(conn, rule_id, team_id, body.channel_ids)
        if body.paused:
            alert_rules.set_paused(conn, rule_id, True, now)
        return _rule_json(_one_rule(conn, app_id, rule_id))


@router.patch("/apps/{app_id}/alert-rules/{rule_id}", response_model=AlertRule, responses=models.BAD_JSON)
def patch_rule(app_id: AppId, rule_id: RuleId, body: AlertRulePatch, db: Db, caller: Token) -> dict[str, Any]:
    """Change a rule's fields, its channels, and/or pause or resume it.

    Changing what the rule watches starts its streaks over (a firing rule stays firing until it
    resolves); pausing stops checks and notifications; resuming checks it at once.
    """
    now = time.time()
    changes = body.model_dump(include=body.model_fields_set)
    paused = changes.pop("paused", None)
    channel_ids = changes.pop("channel_ids", None)
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        rule = _one_rule(conn, app_id, rule_id)
        if changes:
            current = {f: getattr(rule, f) for f in _SPEC_FIELDS}
            alert_rules.update(conn, rule.id, app_id, _spec(conn, app_id, {**current, **changes}), now)
        if channel_ids is not None:
            _check_channels(conn, rule.team_id, channel_ids)
            alert_rules.set_channels(conn, rule.id, rule.team_id, channel_ids)
        if paused is not None and paused != rule.paused:
            alert_rules.set_paused(conn, rule.id, paused, now)
        return _rule_json(_one_rule(conn, app_id, rule_id))


@router.delete("/apps/{app_id}/alert-rules/{rule_id}", status_code=204)
def delete_rule(app_id: AppId, rule_id: RuleId, db: Db, caller: Token) -> Response:
    """Delete a rule with its history."""
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        alert_rules.delete(conn, _one_rule(conn, app_id, rule_id).id)
    return Response(status_code=204)


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
