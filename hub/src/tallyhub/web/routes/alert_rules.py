"""Alert rules of an app (members edit, viewers read) and its alert history with delivery status."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from tallyhub.accounts import teams as team_store
from tallyhub.alerts import channels as alert_channels
from tallyhub.alerts import history as alert_history
from tallyhub.alerts import rule_spec
from tallyhub.alerts import rules as alert_rules
from tallyhub.alerts.messages import format_value
from tallyhub.alerts.recent_values import recent_values
from tallyhub.alerts.rule_metrics import KNOWN, METRICS
from tallyhub.storage.app_admin import TeamApp
from tallyhub.storage.tables import MAX_ID
from tallyhub.web.access import RowId, SignedIn, Viewer, WebError, request_db, require_app
from tallyhub.web.filters import Filters
from tallyhub.web.pagedata import ERROR_COLOR
from tallyhub.web.templating import render

router = APIRouter()
NOTICES = {
    "created": "The rule was created; it is checked within seconds.",
    "saved": "The rule was saved.",
    "paused": "The rule is paused: no checks, no notifications.",
    "resumed": "The rule is active again.",
    "deleted": "The rule was deleted with its history.",
}


def _role(viewer: Viewer, app: TeamApp) -> str:
    return viewer.role_in(app.team_id) or "viewer"


def _rule_of(request: Request, app: TeamApp, rule_id: int) -> alert_rules.Rule:
    with request_db(request).read() as conn:
        rule = alert_rules.get(conn, rule_id)
    if rule is None or rule.app_id != app.id:
        raise WebError(404, "No such alert rule.")
    return rule


def _channels(request: Request, app: TeamApp) -> list[alert_channels.Channel]:
    with request_db(request).read() as conn:
        return alert_channels.of_teams(conn, [app.team_id])


def _context(request: Request, viewer: Viewer, app: TeamApp) -> dict[str, Any]:
    return {
        "app": app,
        "role": _role(viewer, app),
        "filters": Filters.from_query(request.query_params),
        "nav": "alerts",
        "metrics": METRICS,
        "known_metrics": KNOWN,
        "kinds": rule_spec.KINDS,
        "windows": rule_spec.WINDOWS,
        "intervals": rule_spec.INTERVALS,
        "comparisons": rule_spec.COMPARISONS,
        "scopes": rule_spec.SCOPES,
        "format_value": format_value,
    }


@router.get("/apps/{app_id}/alerts")
def rules_page(request: Request, viewer: SignedIn, app_id: RowId, notice: str = "") -> Response:
    app = require_app(request, viewer, app_id)
    with request_db(request).read() as conn:
        rules = alert_rules.of_app(conn, app.id)
    channel_names = {c.id: c.name for c in _channels(request, app)}
    return render(
        request,
        "alert_rules.html",
        **_context(request, viewer, app),
        rules=rules,
        channel_names=channel_names,
        notice=NOTICES.get(notice),
        may_edit=team_store.role_at_least(_role(viewer, app), "member"),
    )


def _form_page(
    request: Request,
    viewer: Viewer,
    app: TeamApp,
    rule: alert_rules.Rule | None,
    form: dict[str, Any],
    error: str | None,
) -> Response:
    return render(
        request,
        "alert_rule_form.html",
        status_code=400 if error else 200,
        **_context(request, viewer, app),
        rule=rule,
        form=form,
        error=error,
        channels=_channels(request, app),
    )


def _rule_form(rule: alert_rules.Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "env": rule.env,
        "kind": rule.kind,
        "metric": rule.metric or "",
        "window_seconds": str(rule.window_seconds),
        "interval_seconds": str(rule.interval_seconds),
        "comparison": rule.comparison,
        "threshold": f"{rule.threshold:g}",
        "scope": rule.scope or "",
        "scope_value": rule.scope_value or "",
        "baseline_hours": str(rule.baseline_hours),
        "fire_after": str(rule.fire_after),
        "resolve_after": str(rule.resolve_after),
        "schedule": rule.schedule or "",
        "timezone": rule.timezone or "",
        "channel_ids": list(rule.channel_ids),
    }


@router.get("/apps/{app_id}/alerts/new")
def new_rule(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    app = require_app(request, viewer, app_id, "member")
    default = {
        "env": app.envs[0] if app.envs else "",
        "kind": "metric",
        "metric": "p95",
        "window_seconds": "900",
        "interval_seconds": "60",
        "comparison": ">",
        "threshold": "500",
        "fire_after": "1",
        "resolve_after": "1",
        "baseline_hours": "6",
        "schedule": "",
        "timezone": "",
        "channel_ids": [],
    }
    return _form_page(request, viewer, app, None, default, None)


async def _submitted(request: Request) -> tuple[dict[str, str], list[int]]:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    channel_ids = []
    for raw in form.getlist("channel_ids"):
        if isinstance(raw, str) and raw.isdigit():
            channel_ids.append(int(raw))
    return fields, channel_ids


def _save(
    request: Request,
    viewer: Viewer,
    app: TeamApp,
    rule: alert_rules.Rule | None,
    fields: dict[str, str],
    channel_ids: list[int],
) -> Response:
    try:
        spec = rule_spec.parse_form(fields, list(app.envs))
    except rule_spec.RuleError as exc:
        return _form_page(request, viewer, app, rule, {**fields, "channel_ids": channel_ids}, str(exc))
    now = time.time()
    with request_db(request).write() as conn:
        if rule is None:
            rule_id = alert_rules.create(conn, app.id, spec, now)
        else:
            rule_id = rule.id
            alert_rules.update(conn, rule_id, app.id, spec, now)
        alert_rules.set_channels(conn, rule_id, app.team_id, channel_ids)
    return RedirectResponse(
        f"/apps/{app.id}/alerts?notice={'created' if rule is None else 'saved'}", status_code=303
    )


@router.post("/apps/{app_id}/alerts")
async def create_rule(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    app = require_app(request, viewer, app_id, "member")
    fields, channel_ids = await _submitted(request)
    return _save(request, viewer, app, None, fields, channel_ids)


@router.get("/apps/{app_id}/alerts/{rule_id}/edit")
def edit_rule(request: Request, viewer: SignedIn, app_id: RowId, rule_id: RowId) -> Response:
    app = require_app(request, viewer, app_id, "member")
    rule = _rule_of(request, app, rule_id)
    return _form_page(request, viewer, app, rule, _rule_form(rule), None)


@router.post("/apps/{app_id}/alerts/{rule_id}")
async def update_rule(request: Request, viewer: SignedIn, app_id: RowId, rule_id: RowId) -> Response:
    app = require_app(request, viewer, app_id, "member")
    rule = _rule_of(request, app, rule_id)
    fields, channel_ids = await _submitted(request)
    return _save(request, viewer, app, rule, fields, channel_ids)


@router.post("/apps/{app_id}/alerts/{rule_id}/pause")
def pause_rule(request: Request, viewer: SignedIn, app_id: RowId, rule_id: RowId) -> Response:
    app = require_app(request, viewer, app_id, "member")
    rule = _rule_of(request, app, rule_id)
    with request_db(request).write() as conn:
        alert_rules.set_paused(conn, rule.id, not rule.paused, time.time())
    return RedirectResponse(
        f"/apps/{app.id}/alerts?notice={'resumed' if rule.paused else 'paused'}", status_code=303
    )


@router.post("/apps/{app_id}/alerts/{rule_id}/delete")
def delete_rule(request: Request, viewer: SignedIn, app_id: RowId, rule_id: RowId) -> Response:
    app = require_app(request, viewer, app_id, "member")
    rule = _rule_of(request, app, rule_id)
    with request_db(request).write() as conn:
        alert_rules.delete(conn, rule.id)
    return RedirectResponse(f"/apps/{app.id}/alerts?notice=deleted", status_code=303)


@router.get("/apps/{app_id}/alerts/history")
def history_page(
    request: Request,
    viewer: SignedIn,
    app_id: RowId,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    app = require_app(request, viewer, app_id)
    with request_db(request).read() as conn:
        events = alert_history.events_of_app(conn, app.id, limit=50, before=before)
    return render(request, "alert_history.html", **_context(request, viewer, app), events=events)


_VALUE_COLOR = "#2563eb"


def _value_chart(rule: alert_rules.Rule, values: list[tuple[float, float | None]]) -> dict[str, Any]:
    """charts.js data: the metric's value at each moment beside the rule's threshold."""
    return {
        "kind": "lines",
        "empty": all(value is None for _, value in values),
        "times": [at for at, _ in values],
        "series": [
            {
                "label": KNOWN[rule.metric or ""].label,
                "values": [v for _, v in values],
                "color": _VALUE_COLOR,
            },
            {
                "label": f"threshold ({rule.comparison} {rule.threshold:g})",
                "values": [rule.threshold] * len(values),
                "color": ERROR_COLOR,
            },
        ],
    }


@router.get("/apps/{app_id}/alerts/{rule_id}")
def rule_page(request: Request, viewer: SignedIn, app_id: RowId, rule_id: RowId) -> Response:
    """One rule: what it watches, when it is checked, and (metric rules) its recent values as a chart."""
    app = require_app(request, viewer, app_id)
    rule = _rule_of(request, app, rule_id)
    chart = None
    if rule.kind == "metric":
        apdex_t = request.app.state.settings.apdex_threshold_ms
        chart = _value_chart(rule, recent_values(request_db(request), rule, time.time(), apdex_t))
    channel_names = {c.id: c.name for c in _channels(request, app)}
    return render(
        request,
        "alert_rule.html",
        **_context(request, viewer, app),
        rule=rule,
        chart=chart,
        chart_unit=_chart_unit(rule.metric),
        channel_names=channel_names,
        may_edit=team_store.role_at_least(_role(viewer, app), "member"),
    )


def _chart_unit(metric: str | None) -> str:
    """charts.js's unit for the metric's values (memory is in MB: a count labelled MB)."""
    if metric is None:
        return ""
    if metric == "apdex":
        return "apdex"
    return {"/min": "requests", "": "requests"}.get(KNOWN[metric].unit, KNOWN[metric].unit)
