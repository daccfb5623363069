"""Jinja2 rendering for the dashboard: every page gets the viewer, CSRF token, filters and hub URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from tallyhub.web import formatting, security
from tallyhub.web.access import optional_viewer
from tallyhub.web.filters import METHODS, PERIOD_LABELS, format_time
from tallyhub.web.pages import APP_NAV

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals.update(
    period_labels=PERIOD_LABELS, methods=METHODS, format_time=format_time, app_nav=APP_NAV
)
TEMPLATES.env.filters.update(formatting.FILTERS)


def hub_url(request: Request) -> str:
    """The hub's public base URL: the public_url setting, else the URL this request came to."""
    configured = str(request.app.state.settings.public_url).rstrip("/")
    return configured or str(request.base_url).rstrip("/")


def render(request: Request, template: str, /, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the common context and any cookie the CSRF token needed."""
    context.setdefault("viewer", optional_viewer(request))
    context.setdefault("filters", None)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {"csrf_token": security.csrf_token(request), "hub_url": hub_url(request), **context},
        status_code=status_code,
    )
    # Pages show per-user data: never from a shared cache, never from the back button after logout.
    response.headers["Cache-Control"] = "no-store"
    security.set_pending_cookies(request, response)
    return response
