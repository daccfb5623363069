"""The dashboard: server-rendered pages under /, static files under /static; `install` wires it in."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse, RedirectResponse, Response

from tallyhub.web.access import LoginRequired, WebError
from tallyhub.web.client_wheel import ClientWheel
from tallyhub.web.filters import FilterError
from tallyhub.web.headers import SecurityHeaders
from tallyhub.web.routes import (
    account,
    alert_rules,
    api_docs,
    app_settings,
    apps,
    auth,
    channels,
    client,
    consumers,
    endpoint_settings,
    invites,
    pages,
    request_logs,
    saved_views,
    teams,
    uptime,
)
from tallyhub.web.security import CsrfError, check_csrf
from tallyhub.web.templating import render

STATIC = Path(__file__).parent / "static"
VENDOR_FILES = ("uPlot.iife.min.js", "uPlot.min.css", "swagger-ui-bundle.js", "swagger-ui.css")
log = logging.getLogger("tallyhub.web")


def _wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or "application/json" in request.headers.get("accept", "")


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    return render(request, "error.html", status_code=status, status=status, message=message)


async def _login_required(request: Request, _exc: Exception) -> Response:
    if request.method != "GET" or _wants_json(request):
        return _error(request, 401, "Sign in first.")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def _web_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebError)
    return _error(request, exc.status, exc.message)


async def _filter_error(request: Request, exc: Exception) -> Response:
    return _error(request, 400, f"Invalid filter {exc}.")


async def _validation_error(request: Request, exc: Exception) -> Response:
    """Bad path or query values: the read API and ingestion answer FastAPI's 422; the dashboard a page."""
    assert isinstance(exc, RequestValidationError)
    if request.url.path.startswith(("/api/", "/v2/")):
        return await request_validation_exception_handler(request, exc)
    if any(error["loc"][0] == "path" for error in exc.errors()):
        return _error(request, 404, "Not found.")  # e.g. an id that cannot exist
    fields = ", ".join(str(error["loc"][-1]) for error in exc.errors())
    return _error(request, 400, f"Invalid value for {fields}.")


async def _csrf_error(request: Request, _exc: Exception) -> Response:
    return _error(
        request,
        403,
        "The form has expired or came from another site (CSRF check failed). Reload the page and try again.",
    )


def router() -> APIRouter:
    """Every dashboard route, behind the CSRF check (which lets GET, HEAD and OPTIONS through)."""
    web = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
    for module in (
        api_docs,
        auth,
        invites,
        account,
        apps,
        request_logs,
        pages,
        consumers,
        endpoint_settings,
        app_settings,
        saved_views,
        teams,
        uptime,
        alert_rules,
        channels,
        client,
    ):
        web.include_router(module.router)
    return web


def install(app: FastAPI) -> None:
    """Add the dashboard's routes, static files, error pages and security headers to the hub."""
    missing = [name for name in VENDOR_FILES if not (STATIC / "vendor" / name).is_file()]
    if missing:
        # The wheel ships them; a source checkout gets them from `make vendor` (npm ci).
        log.warning("dashboard front-end libraries missing (%s): run `make vendor`", ", ".join(missing))
    app.state.client_wheel = ClientWheel()
    app.include_router(router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Pages, JSON and static files compress 2-9 times (the first load of a page has a 300 KB budget);
    # small responses, such as ingestion's, are sent as they are.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    _outermost(app, SecurityHeaders, public_url=str(app.state.settings.public_url))
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(WebError, _web_error)
    app.add_exception_handler(FilterError, _filter_error)
    app.add_exception_handler(CsrfError, _csrf_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


def _outermost(app: FastAPI, middleware: Any, **options: Any) -> None:
    """Wrap the app's whole middleware stack in `middleware`.

    Starlette answers an unhandled exception (its plain 500) from ServerErrorMiddleware, which sits
    outside every middleware added with add_middleware; the security headers must be on that 500 too.
    """
    build = app.build_middleware_stack

    def build_wrapped() -> Any:
        return middleware(build(), **options)

    app.build_middleware_stack = build_wrapped  # type: ignore[method-assign]
