"""The app's data pages: figures from tallyhub.analytics (via web/pagedata.py) for the URL filters.

Detail views are the list pages narrowed by a filter: an endpoint is `method` + `path`, a consumer is
`consumer`, a group is `group`, so every link and the filter bar compose with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tallyhub.analytics import consumers
from tallyhub.web import pagedata
from tallyhub.web.access import (
    FormStr,
    RowId,
    SignedIn,
    Viewer,
    WebError,
    not_found,
    request_db,
    require_app,
)
from tallyhub.web.filters import Filters
from tallyhub.web.pagedata import Scope
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
PAGE_DATA: dict[str, Callable[[Scope], dict[str, Any]]] = {
    "traffic": pagedata.traffic_data,
    "errors": pagedata.errors_data,
    "performance": pagedata.performance_data,
    "data-transferred": pagedata.data_transferred_data,
    "endpoints": pagedata.endpoints_data,
    "consumers": pagedata.consumers_data,
    "instances": pagedata.instances_data,
}


def _show(
    request: Request,
    viewer: Viewer,
    app_id: int,
    template: str,
    nav: str,
    title: str,
    compute: Callable[[Scope], dict[str, Any] | None],
) -> Response:
    app = require_app(request, viewer, app_id)
    filters = Filters.from_query(request.query_params)
    apdex_t = request.app.state.settings.apdex_threshold_ms
    with Scope.open(request_db(request), app.id, filters, time.time(), apdex_t) as scope:
        data = compute(scope)
    if data is None:
        raise not_found()
    return render(
        request,
        template,
        app=app,
        role=viewer.role_in(app.team_id),
        filters=filters,
        nav=nav,
        title=title,
        **data,
    )


def _data_page(slug: str, title: str) -> None:
    compute = PAGE_DATA[slug]

    def page(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
        return _show(request, viewer, app_id, f"page_{slug.replace('-', '_')}.html", slug, title, compute)

    page.__name__ = f"{slug.replace('-', '_')}_page"
    router.add_api_route(f"/apps/{{app_id}}/{slug}", page, methods=["GET"])


for _slug, _title in DATA_PAGES:
    _data_page(_slug, _title)


@router.get("/apps/{app_id}/endpoints/detail")
def endpoint_detail(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    """One endpoint: the `method` and `path` filters name it."""
    filters = Filters.from_query(request.query_params)
    if filters.path is None:
        raise WebError(400, "Invalid filter path: the endpoint view needs an endpoint (path).")
    title = f"{filters.method or 'Any method'} {filters.path}"
    return _show(
        request, viewer, app_id, "endpoint_detail.html", "endpoints", title, pagedata.endpoint_detail_data
    )


@router.get("/apps/{app_id}/consumers/detail")
def consumer_detail(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    """One consumer: the `consumer` filter names it; unknown identifiers are 404."""
    identifier = Filters.from_query(request.query_params).consumer
    if identifier is None:
        raise WebError(400, "Invalid filter consumer: the consumer view needs a consumer.")
    return _show(
        request,
        viewer,
        app_id,
        "consumer_detail.html",
        "consumers",
        f"Consumer {identifier}",
        lambda scope: pagedata.consumer_detail_data(scope, identifier),
    )


@router.get("/apps/{app_id}/consumers/groups")
def consumer_groups(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    """Consumer groups with their consumers' requests and errors over the range."""
    return _show(
        request,
        viewer,
        app_id,
        "consumer_groups.html",
        "consumers",
        "Consumer groups",
        pagedata.groups_data,
    )


@router.post("/apps/{app_id}/consumers/edit")
def edit_consumer(
    request: Request,
    viewer: SignedIn,
    app_id: RowId,
    identifier: FormStr = "",
    name: FormStr = "",
    group: FormStr = "",
    new_group: FormStr = "",
) -> Response:
    """Rename a consumer and set its group (member or admin); clients can no longer overwrite them."""
    app = require_app(request, viewer, app_id, "member")
    chosen_group = (new_group or group).strip()
    for label, value in (("name", name.strip()), ("group", chosen_group)):
        if len(value) > 64:
            raise WebError(400, f"The {label} is longer than 64 characters.")
    changes: dict[str, str | None] = {"name": name.strip() or None, "group": chosen_group or None}
    if consumers.update_consumer(request_db(request), app.id, identifier, changes) is None:
        raise not_found()
    filters = Filters.from_query(request.query_params).replace(consumer=identifier)
    return RedirectResponse(filters.href(f"/apps/{app.id}/consumers/detail"), status_code=303)
