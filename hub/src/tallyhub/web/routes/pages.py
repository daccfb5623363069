"""The app's data pages (web/pages.py declares them): figures from tallyhub.analytics for the URL filters.

Detail views are the list pages narrowed by a filter: an endpoint is `method` + `path`, a consumer is
`consumer`, a group is `group`, so every link and the filter bar compose with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from tallyhub.analytics.scope import Scope
from tallyhub.web import pagedata, saved_views
from tallyhub.web.access import RowId, SignedIn, Viewer, not_found, request_db, require_app
from tallyhub.web.filters import FilterError, Filters, filter_errors
from tallyhub.web.pages import (
    CONSUMER_DETAIL_FILTERS,
    DATA_PAGES,
    ENDPOINT_DETAIL_FILTERS,
    DataPage,
    PageFilters,
)
from tallyhub.web.templating import render

router = APIRouter()


def _show(
    request: Request,
    viewer: Viewer,
    app_id: int,
    template: str,
    nav: str,
    title: str,
    compute: Callable[[Scope], dict[str, Any] | None],
    page_filters: PageFilters,
    filters: Filters | None = None,
) -> Response:
    """The page with what `compute` finds for the filters it honours (parsed unless given); 404 for None."""
    app = require_app(request, viewer, app_id)
    if filters is None:
        filters = Filters.from_query(request.query_params)
    query = filters.honouring(page_filters.honoured).query_at(
        time.time(), request.app.state.settings.apdex_threshold_ms
    )
    # filter_errors: a list's limit, offset, sort or dir is parsed by the page that has the list.
    with Scope.open(request_db(request), app.id, query, request.query_params) as scope, filter_errors():
        data = compute(scope)
    if data is None:
        raise not_found()
    return render(
        request,
        template,
        app=app,
        role=viewer.role_in(app.team_id),
        filters=filters,
        page_filters=page_filters,
        nav=nav,
        title=title,
        **saved_views.bar(request, viewer, app.id, app.team_id, filters),
        **data,
    )


def _data_page(declared: DataPage) -> None:
    def page(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
        return _show(
            request,
            viewer,
            app_id,
            declared.template,
            declared.slug,
            declared.title,
            declared.data,
            declared.filters,
        )

    page.__name__ = f"{declared.slug.replace('-', '_')}_page"
    router.add_api_route(f"/apps/{{app_id}}/{declared.slug}", page, methods=["GET"])


for _declared in DATA_PAGES:
    _data_page(_declared)


@router.get("/apps/{app_id}/endpoints/detail")
def endpoint_detail(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    """One endpoint: the `method` and `path` filters name it."""
    filters = Filters.from_query(request.query_params)
    if filters.path is None:
        raise FilterError("path", "the endpoint view needs an endpoint (path)")
    title = f"{filters.method or 'Any method'} {filters.path}"
    return _show(
        request,
        viewer,
        app_id,
        "endpoint_detail.html",
        "endpoints",
        title,
        pagedata.endpoint_detail_data,
        ENDPOINT_DETAIL_FILTERS,
        filters,
    )


@router.get("/apps/{app_id}/consumers/detail")
def consumer_detail(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    """One consumer: the `consumer` filter names it; unknown identifiers are 404."""
    filters = Filters.from_query(request.query_params)
    identifier = filters.consumer
    if identifier is None:
        raise FilterError("consumer", "the consumer view needs a consumer")
    return _show(
        request,
        viewer,
        app_id,
        "consumer_detail.html",
        "consumers",
        f"Consumer {identifier}",
        lambda scope: pagedata.consumer_detail_data(scope, identifier),
        CONSUMER_DETAIL_FILTERS,
        filters,
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
        PageFilters(),
    )
