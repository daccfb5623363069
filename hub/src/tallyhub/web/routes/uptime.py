"""The Uptime page of an app: state and uptime per env, incidents, health checks and their forms.

Everyone in the app's team sees it; members and admins create, edit, pause and delete health checks
and switch heartbeats, as they manage the other monitoring settings (consumers, alert rules).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel
from starlette.responses import RedirectResponse, Response

from tallyhub.accounts.teams import role_at_least
from tallyhub.analytics.times import iso
from tallyhub.storage.app_admin import TeamApp
from tallyhub.storage.apps import env_id_for
from tallyhub.uptime import checks as check_store
from tallyhub.uptime.figures import WINDOWS, check_percentages, env_uptime
from tallyhub.web.access import (
    FormStr,
    RowId,
    SignedIn,
    Viewer,
    WebError,
    not_found,
    request_db,
    request_policy,
    require_app,
)
from tallyhub.web.filters import Filters
from tallyhub.web.templating import render

router = APIRouter()
EDITOR = "member"
NOTICES = {
    "created": "The health check was added; its first result comes within a few seconds.",
    "saved": "The health check was saved.",
    "paused": "The health check was paused.",
    "resumed": "The health check was resumed.",
    "deleted": "The health check was deleted with its results and incidents.",
    "heartbeat-on": "Heartbeat monitoring is on.",
    "heartbeat-off": "Heartbeat monitoring is off.",
}


class CheckFields(BaseModel):
    """The health-check form as posted, as text: check_store.validate parses and checks each field."""

    env: str = ""
    url: str = ""
    method: str = "GET"
    expected_status: str = "200"
    body_contains: str = ""
    timeout_seconds: str = ""
    interval_seconds: str = ""


CheckForm = Annotated[CheckFields, Form()]
FIELDS = tuple(CheckFields.model_fields)


def _back(app_id: int, notice: str) -> Response:
    return RedirectResponse(f"/apps/{app_id}/uptime?notice={notice}", status_code=303)


def _page(
    request: Request,
    viewer: Viewer,
    app: TeamApp,
    *,
    notice: str | None = None,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    editing: int | None = None,
    status_code: int = 200,
) -> Response:
    now = time.time()
    with request_db(request).read() as conn:
        checks = check_store.checks_of_app(conn, app.id)
        for check in checks:
            check["uptime"] = check_percentages(conn, check, now)
        env_ids = [env_id_for(conn, app.id, env) for env in app.envs]
        envs = [env_uptime(conn, env_id, now) for env_id in env_ids if env_id is not None]
    if editing is not None and form is None:
        chosen = [c for c in checks if c["id"] == editing]
        if not chosen:
            raise not_found()
        form = {k: chosen[0][k] for k in FIELDS}
    role = viewer.role_in(app.team_id)
    return render(
        request,
        "page_uptime.html",
        status_code=status_code,
        app=app,
        role=role,
        may_edit=role_at_least(role, EDITOR),
        filters=Filters.from_query(request.query_params),
        nav="uptime",
        envs=envs,
        checks=checks,
        windows=[name for name, _ in WINDOWS],
        form=form or {"env": app.envs[0] if app.envs else "", "method": "GET", "expected_status": 200},
        editing=editing,
        methods=check_store.METHODS,
        max_timeout=check_store.MAX_TIMEOUT_SECONDS,
        notice=notice,
        error=error,
        iso=iso,
    )


@router.get("/apps/{app_id}/uptime")
def uptime_page(
    request: Request, viewer: SignedIn, app_id: RowId, notice: str = "", edit: int | None = None
) -> Response:
    app = require_app(request, viewer, app_id)
    if edit is not None:
        require_app(request, viewer, app_id, EDITOR)
    return _page(request, viewer, app, notice=NOTICES.get(notice), editing=edit)


def _spec_or_page(
    request: Request, viewer: Viewer, app: TeamApp, form: dict[str, Any], editing: int | None
) -> check_store.CheckSpec | Response:
    try:
        return check_store.validate(form, request_policy(request))
    except check_store.InvalidField as exc:
        label = exc.field.replace("_", " ")
        return _page(
            request,
            viewer,
            app,
            error=f"{label.capitalize()} {exc.message}.",
            form=form,
            editing=editing,
            status_code=400,
        )


def _check_of_app(request: Request, app: TeamApp, check_id: int) -> dict[str, Any]:
    with request_db(request).read() as conn:
        found = check_store.checks_of_app(conn, app.id, check_id)
    if not found:
        raise not_found()
    return found[0]


@router.post("/apps/{app_id}/uptime/checks")
def create_check(
    request: Request,
    viewer: SignedIn,
    app_id: RowId,
    fields: CheckForm,
) -> Response:
    app = require_app(request, viewer, app_id, EDITOR)
    form = fields.model_dump()
    spec = _spec_or_page(request, viewer, app, form, None)
    if isinstance(spec, Response):
        return spec
    with request_db(request).write() as conn:
        env_id = env_id_for(conn, app.id, fields.env)
        if env_id is None:
            raise WebError(400, f"The app has no environment {fields.env!r}.")
        check_store.create(conn, env_id, spec, time.time())
    return _back(app.id, "created")


@router.post("/apps/{app_id}/uptime/checks/{check_id}")
def edit_check(
    request: Request,
    viewer: SignedIn,
    app_id: RowId,
    check_id: RowId,
    fields: CheckForm,
) -> Response:
    app = require_app(request, viewer, app_id, EDITOR)
    check = _check_of_app(request, app, check_id)
    form = {**fields.model_dump(), "env": check["env"]}  # a check stays in its environment
    spec = _spec_or_page(request, viewer, app, form, check_id)
    if isinstance(spec, Response):
        return spec
    with request_db(request).write() as conn:
        check_store.update(conn, check_id, spec, time.time())
    return _back(app.id, "saved")


@router.post("/apps/{app_id}/uptime/checks/{check_id}/pause")
def pause_check(
    request: Request, viewer: SignedIn, app_id: RowId, check_id: RowId, paused: FormStr = "1"
) -> Response:
    app = require_app(request, viewer, app_id, EDITOR)
    _check_of_app(request, app, check_id)
    with request_db(request).write() as conn:
        check_store.set_paused(conn, check_id, paused == "1", time.time())
    return _back(app.id, "paused" if paused == "1" else "resumed")


@router.post("/apps/{app_id}/uptime/checks/{check_id}/delete")
def delete_check(request: Request, viewer: SignedIn, app_id: RowId, check_id: RowId) -> Response:
    app = require_app(request, viewer, app_id, EDITOR)
    _check_of_app(request, app, check_id)
    with request_db(request).write() as conn:
        check_store.delete(conn, check_id)
    return _back(app.id, "deleted")


@router.post("/apps/{app_id}/uptime/heartbeat")
def switch_heartbeat(
    request: Request, viewer: SignedIn, app_id: RowId, env: FormStr = "", enabled: FormStr = "1"
) -> Response:
    app = require_app(request, viewer, app_id, EDITOR)
    with request_db(request).write() as conn:
        env_id = env_id_for(conn, app.id, env)
        if env_id is None:
            raise WebError(404, f"The app has no environment {env!r}.")
        check_store.set_heartbeat(conn, env_id, enabled == "1", time.time())
    return _back(app.id, "heartbeat-on" if enabled == "1" else "heartbeat-off")
