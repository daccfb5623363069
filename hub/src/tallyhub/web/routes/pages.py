"""The app's data pages: layout, navigation and filter bar now; their data comes from tallyhub.analytics.

SLOT(analytics): each page renders `data_page.html`, whose block marked SLOT is where the lead puts
the page's charts and tables, computed from `filters.api_params(now)` for the app.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tallyhub.web.access import Viewer, require_app, require_viewer
from tallyhub.web.filters import Filters
from tallyhub.web.templating import render

router = APIRouter()

# (URL segment, title) of each data page, in navigation order.
DATA_PAGES: tuple[tuple[str, str], ...] = (
    ("traffic", "Traffic"),
    ("errors", "Errors"),
    ("performance", "Performance"),
    ("data-transferred", "Data transferred"),
    ("endpoints", "Endpoints"),
    ("consumers", "Consumers"),
    ("instances", "Instances"),
)


def _data_page(slug: str, title: str) -> None:
    def page(request: Request, viewer: Annotated[Viewer, Depends(require_viewer)], app_id: int) -> Response:
        app = require_app(request, viewer, app_id)
        filters = Filters.from_query(request.query_params)
        return render(
            request,
            "data_page.html",
            app=app,
            role=viewer.role_in(app.team_id),
            filters=filters,
            nav=slug,
            title=title,
        )

    page.__name__ = f"{slug.replace('-', '_')}_page"
    router.add_api_route(f"/apps/{{app_id}}/{slug}", page, methods=["GET"])


for _slug, _title in DATA_PAGES:
    _data_page(_slug, _title)
