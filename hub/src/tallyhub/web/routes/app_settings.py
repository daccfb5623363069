"""App settings (team admins): rename, environments, client-ID rotation, deletion with its data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tallyhub.analytics.times import iso
from tallyhub.identifiers import ENV_RULE, is_valid_env
from tallyhub.storage import app_admin, app_frameworks, caps, endpoint_settings, sentry_links
from tallyhub.storage.app_admin import TeamApp
from tallyhub.web.access import (
    FormStr,
    RowId,
    SignedIn,
    WebError,
    request_db,
    require_app,
)
from tallyhub.web.filters import Filters
from tallyhub.web.templating import render

router = APIRouter()
NOTICES = {
    "renamed": "The app was renamed.",
    "env-added": "The environment was added.",
    "env-removed": "The environment was deleted with its data.",
    "apdex-set": "The app's Apdex T was saved.",
    "sentry-set": "The Sentry organisation URL was saved.",
    "framework-set": "The framework was saved: the setup page opens on its instructions.",
}


def _back(app_id: int, notice: str) -> Response:
    return RedirectResponse(f"/apps/{app_id}/settings?notice={notice}", status_code=303)


@router.get("/apps/{app_id}/settings")
def settings_page(request: Request, viewer: SignedIn, app_id: RowId, notice: str = "") -> Response:
    app = require_app(request, viewer, app_id, "admin")
    return _page(request, app, Filters.from_query(request.query_params), NOTICES.get(notice))


def _page(
    request: Request, app: TeamApp, filters: Filters, notice: str | None, new_client_id: str | None = None
) -> Response:
    return render(
        request,
        "app_settings.html",
        app=app,
        role="admin",
        filters=filters,
        nav="settings",
        notice=notice,
        new_client_id=new_client_id,
        error=None,
        limits=_limits(request, app.id),
        apdex=_apdex(request, app.id),
        sentry_org_url=_sentry_org_url(request, app.id),
        frameworks=app_frameworks.FRAMEWORKS,
    )


def _sentry_org_url(request: Request, app_id: int) -> str | None:
    with request_db(request).read() as conn:
        return sentry_links.org_url(conn, app_id)


def _apdex(request: Request, app_id: int) -> dict[str, int | None]:
    """The app's own Apdex T (None: the hub's) and the hub's apdex_threshold_ms setting."""
    with request_db(request).read() as conn:
        own = endpoint_settings.app_apdex_t(conn, app_id)
    return {"own": own, "hub": request.app.state.settings.apdex_threshold_ms}


def _limits(request: Request, app_id: int) -> list[dict[str, object]]:
    """The caps the app hit: kind, the cap (setting), since when, and the bucket its new keys go to."""
    settings = request.app.state.settings
    with request_db(request).read() as conn:
        hit = caps.hits(conn, app_id)
    return [
        {
            "kind": kind,
            "cap": getattr(settings, f"max_{kind}_per_app"),
            "setting": f"TALLYHUB_MAX_{kind.upper()}_PER_APP",
            "since": iso(hit[kind]),
            "bucket": caps.OTHER_LABELS[kind],
        }
        for kind in caps.KINDS
        if kind in hit
    ]


@router.post("/apps/{app_id}/settings/name")
def rename(request: Request, viewer: SignedIn, app_id: RowId, name: FormStr = "") -> Response:
    app = require_app(request, viewer, app_id, "admin")
    try:
        with request_db(request).write() as conn:
            app_admin.rename(conn, app.id, name)
    except ValueError as exc:
        raise WebError(400, str(exc)) from exc
    return _back(app.id, "renamed")


@router.post("/apps/{app_id}/settings/apdex")
def set_apdex(
    request: Request, viewer: SignedIn, app_id: RowId, apdex_threshold_ms: FormStr = ""
) -> Response:
    """The app's Apdex T, for endpoints without their own (blank: the hub's setting)."""
    app = require_app(request, viewer, app_id, "admin")
    text = apdex_threshold_ms.strip()
    if text and not text.isdigit():
        raise WebError(400, f"Apdex T: {text!r} is not a whole number of milliseconds.")
    try:
        with request_db(request).write() as conn:
            endpoint_settings.set_app_apdex_t(conn, app.id, int(text) if text else None)
    except endpoint_settings.InvalidSetting as exc:
        raise WebError(400, f"Apdex T: {exc.message}.") from None
    return _back(app.id, "apdex-set")


@router.post("/apps/{app_id}/settings/sentry")
def set_sentry_org_url(
    request: Request, viewer: SignedIn, app_id: RowId, sentry_org_url: FormStr = ""
) -> Response:
    """The app's Sentry organisation URL (blank: no links), so server errors link to their Sentry event."""
    app = require_app(request, viewer, app_id, "admin")
    try:
        with request_db(request).write() as conn:
            sentry_links.set_org_url(conn, app.id, sentry_org_url)
    except sentry_links.InvalidSentryUrl as exc:
        raise WebError(400, f"Sentry organisation URL: {exc}.") from None
    return _back(app.id, "sentry-set")


@router.post("/apps/{app_id}/settings/framework")
def set_framework(request: Request, viewer: SignedIn, app_id: RowId, framework: FormStr = "") -> Response:
    """The framework the app is set up with, whose instructions the setup page opens on."""
    app = require_app(request, viewer, app_id, "admin")
    try:
        with request_db(request).write() as conn:
            app_frameworks.set_framework(conn, app.id, framework)
    except app_frameworks.InvalidFramework as exc:
        raise WebError(400, f"Framework: {exc}.") from None
    return _back(app.id, "framework-set")


@router.post("/apps/{app_id}/settings/envs")
def add_env(request: Request, viewer: SignedIn, app_id: RowId, name: FormStr = "") -> Response:
    app = require_app(request, viewer, app_id, "admin")
    env = name.strip()
    if not is_valid_env(env):
        raise WebError(400, f"{env!r} is not an environment name ({ENV_RULE})")
    with request_db(request).write() as conn:
        app_admin.add_env(conn, app.id, env)
    return _back(app.id, "env-added")


@router.post("/apps/{app_id}/settings/envs/delete")
def remove_env(request: Request, viewer: SignedIn, app_id: RowId, name: FormStr = "") -> Response:
    app = require_app(request, viewer, app_id, "admin")
    if name not in app.envs:
        raise WebError(404, f"The app has no environment {name!r}.")
    with request_db(request).write() as conn:
        app_admin.remove_env(conn, app.id, name)
    return _back(app.id, "env-removed")


@router.post("/apps/{app_id}/settings/client-id")
def rotate_client_id(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    app = require_app(request, viewer, app_id, "admin")
    with request_db(request).write() as conn:
        client_id = app_admin.rotate_client_id(conn, app.id)
    fresh = require_app(request, viewer, app_id, "admin")
    notice = "The client ID was rotated: deploy the new one, the old one is no longer accepted."
    return _page(request, fresh, Filters(), notice, client_id)


@router.post("/apps/{app_id}/delete")
def delete_app(request: Request, viewer: SignedIn, app_id: RowId, confirm: FormStr = "") -> Response:
    app = require_app(request, viewer, app_id, "admin")
    if confirm != app.name:
        return render(
            request,
            "app_settings.html",
            status_code=400,
            app=app,
            role="admin",
            filters=Filters(),
            nav="settings",
            notice=None,
            new_client_id=None,
            error="To delete the app, type its name exactly.",
            limits=_limits(request, app.id),
            apdex=_apdex(request, app.id),
            sentry_org_url=_sentry_org_url(request, app.id),
            frameworks=app_frameworks.FRAMEWORKS,
        )
    with request_db(request).write() as conn:
        app_admin.delete_app(conn, app.id)
    return RedirectResponse("/apps", status_code=303)
