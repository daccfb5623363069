"""The apps overview, creating apps and teams, the setup page and its "receiving data" status."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tallyhub.accounts import teams as team_store
from tallyhub.identifiers import ENV_RULE, is_valid_env
from tallyhub.storage import app_admin, app_frameworks, write_tokens
from tallyhub.storage import apps as app_store
from tallyhub.web import snippets
from tallyhub.web.access import (
    FormStr,
    RowId,
    SignedIn,
    Viewer,
    WebError,
    request_db,
    require_app,
    require_team,
)
from tallyhub.web.filters import Filters, format_time
from tallyhub.web.overview import overview_stats
from tallyhub.web.pages import OVERVIEW_FILTERS
from tallyhub.web.templating import hub_url, render

router = APIRouter()


def parse_envs(raw: str) -> tuple[str, ...]:
    """Environment names from a comma- or space-separated field; ValueError names a bad one."""
    names = tuple(dict.fromkeys(n for n in raw.replace(",", " ").split() if n))
    for name in names:
        if not is_valid_env(name):
            raise ValueError(f"{name!r} is not an environment name ({ENV_RULE})")
    if not names:
        raise ValueError("an app needs at least one environment")
    return names


@router.get("/")
def home() -> Response:
    return RedirectResponse("/apps", status_code=303)


@router.get("/apps")
def overview(request: Request, viewer: SignedIn) -> Response:
    filters = Filters.from_query(request.query_params)
    with request_db(request).read() as conn:
        apps = app_admin.apps_of_teams(conn, viewer.team_ids)
    honoured = filters.honouring(OVERVIEW_FILTERS.honoured)
    stats = overview_stats(request_db(request), apps, honoured, time.time())
    teams = [m.team for m in viewer.memberships]
    return render(
        request,
        "apps.html",
        filters=filters,
        page_filters=OVERVIEW_FILTERS,
        apps=apps,
        stats=stats,
        teams=teams,
        admin_teams=viewer.teams_with("admin"),
        envs=sorted({env for app in apps for env in app.envs}),
        may_create_teams=_may_create_teams(request, viewer),
    )


def _may_create_teams(request: Request, viewer: Viewer) -> bool:
    return team_store.may_create_teams(viewer.user.is_hub_admin, request.app.state.settings.team_creation)


@router.post("/teams")
def create_team(request: Request, viewer: SignedIn, name: FormStr = "") -> Response:
    if not _may_create_teams(request, viewer):
        raise WebError(403, "Only hub admins may create teams on this hub (setting team_creation).")
    try:
        with request_db(request).write() as conn:
            if team_store.team_by_name(conn, name) is not None:
                raise ValueError(f"a team called {name.strip()!r} exists already")
            team = team_store.ensure_team(conn, name)
            team_store.set_role(conn, viewer.user.id, team.id, "admin")
    except ValueError as exc:
        raise WebError(400, str(exc)) from exc
    return RedirectResponse(f"/teams/{team.id}", status_code=303)


def _new_app_page(request: Request, viewer: Viewer, status_code: int = 200, **values: object) -> Response:
    teams = viewer.teams_with("admin")
    if not teams:
        raise WebError(403, "Creating an app needs the admin role in a team.")
    values.setdefault("error", None)
    values.setdefault("name", "")
    values.setdefault("framework", app_frameworks.DEFAULT)
    values.setdefault("envs", "prod, dev")
    values.setdefault("team_id", teams[0].id)
    return render(
        request,
        "app_new.html",
        status_code=status_code,
        teams=teams,
        frameworks=app_frameworks.FRAMEWORKS,
        **values,
    )


@router.get("/apps/new")
def new_app_page(request: Request, viewer: SignedIn) -> Response:
    return _new_app_page(request, viewer)


@router.post("/apps/new")
def create_app(
    request: Request,
    viewer: SignedIn,
    team_id: FormStr = "",
    name: FormStr = "",
    framework: FormStr = "",
    envs: FormStr = "",
) -> Response:
    values = {"name": name, "framework": framework, "envs": envs}
    try:
        team = require_team(viewer, int(team_id) if team_id.isdigit() else 0, "admin")
        app_name = app_admin.check_app_name(name)
        env_names = parse_envs(envs)
        if framework not in app_frameworks.FRAMEWORKS:
            raise ValueError("choose a framework from the list")
    except ValueError as exc:
        return _new_app_page(request, viewer, status_code=400, error=str(exc), **values)
    app = app_store.create_app(request_db(request), app_name, env_names, team_id=team.id, framework=framework)
    return RedirectResponse(f"/apps/{app.id}/setup", status_code=303)  # it opens on the stored framework


@router.get("/apps/{app_id}")
def app_home(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    require_app(request, viewer, app_id)
    filters = Filters.from_query(request.query_params)
    return RedirectResponse(filters.href(f"/apps/{app_id}/traffic"), status_code=303)


def _shown_framework(app: app_admin.TeamApp, framework: str | None) -> str:
    """The framework the setup page shows: the one asked for (a tab), else the app's own."""
    if framework is None:
        return app.framework or app_frameworks.DEFAULT
    if framework not in app_frameworks.FRAMEWORKS:
        raise WebError(400, f"framework: one of {', '.join(app_frameworks.FRAMEWORKS)}")
    return framework


@router.get("/apps/{app_id}/setup")
def setup_page(request: Request, viewer: SignedIn, app_id: RowId, framework: str | None = None) -> Response:
    app = require_app(request, viewer, app_id)
    return _setup_page(request, viewer, app, _shown_framework(app, framework), None)


@router.post("/apps/{app_id}/setup/write-token")
def new_write_token(
    request: Request, viewer: SignedIn, app_id: RowId, framework: str | None = None
) -> Response:
    """Make the app's new OTLP write token and show it (only now: it is stored hashed)."""
    app = require_app(request, viewer, app_id, "admin")
    framework = _shown_framework(app, framework)
    grace = request.app.state.settings.write_token_grace_hours * 3600
    with request_db(request).write() as conn:
        token = write_tokens.create(conn, app.id, time.time(), grace)
    return _setup_page(request, viewer, app, framework, token)


def _setup_page(
    request: Request, viewer: Viewer, app: app_admin.TeamApp, framework: str, write_token: str | None
) -> Response:
    with request_db(request).read() as conn:
        last = app_admin.last_data_at(conn, app.id)
        hint = write_tokens.hint(conn, app.id)
    env = "prod" if "prod" in app.envs else (app.envs[0] if app.envs else "prod")
    return render(
        request,
        "app_setup.html",
        app=app,
        role=viewer.role_in(app.team_id),
        filters=Filters.from_query(request.query_params),
        frameworks=snippets.FRAMEWORKS,
        framework=framework,
        own_label=app_frameworks.FRAMEWORKS.get(app.framework or ""),
        # The OTLP ways have their own sections: the page opens on the chosen one, before the others.
        first_way=framework if framework in app_frameworks.OTLP_WAYS else "client",
        snippet=snippets.snippet(
            snippets.tab_for(framework),
            app.client_id,
            hub_url(request),
            request.app.state.client_wheel.filename(),
        ),
        otlp=snippets.otlp(write_token, env, hub_url(request)),
        write_token=write_token,
        token_hint=hint,
        grace_hours=request.app.state.settings.write_token_grace_hours,
        last_data_at=last,
        nav="setup",
    )


@router.get("/apps/{app_id}/status.json")
def app_status(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    """Whether the app has sent data yet; the setup page polls it to switch without a reload."""
    app = require_app(request, viewer, app_id)
    with request_db(request).read() as conn:
        last = app_admin.last_data_at(conn, app.id)
    return JSONResponse(
        {"receiving": last is not None, "last_data_at": format_time(last) if last is not None else None},
        headers={"Cache-Control": "no-store"},
    )
