"""The request-log explorer's own routes: one logged request's detail, and the CSV export of the list.

The list itself is a data page (web/pages.py).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from tallyhub.analytics import csv_export, request_logs
from tallyhub.analytics.scope import Scope
from tallyhub.storage.apps import app_envs
from tallyhub.web import logdata
from tallyhub.web.access import RowId, SignedIn, not_found, request_db, require_app
from tallyhub.web.filters import Filters, filter_errors
from tallyhub.web.templating import render

router = APIRouter()


@router.get("/apps/{app_id}/request-logs/{log_id}")
def request_log_detail(request: Request, viewer: SignedIn, app_id: RowId, log_id: RowId) -> Response:
    """One logged request: headers, bodies, exception, the app's logs and the trace's waterfall."""
    app = require_app(request, viewer, app_id)
    filters = Filters.from_query(request.query_params)
    logs = logdata.log_filters_of(request.query_params)
    query = filters.query_at(time.time(), request.app.state.settings.apdex_threshold_ms)
    with Scope.open(request_db(request), app.id, query) as scope:
        # Every env of the app: a link keeps working when the filters' env or time range has moved on.
        item = request_logs.get_request_log(scope.conn, app_envs(scope.conn, app.id), log_id)
    if item is None:
        raise not_found()
    return render(
        request,
        "request_log_detail.html",
        app=app,
        role=viewer.role_in(app.team_id),
        filters=filters,
        log_filters=logs,
        href=logdata.href,
        nav="request-logs",
        title=f"{item['method']} {item['url']}",
        **logdata.detail_view(item),
    )


@router.get("/apps/{app_id}/request-logs.csv")
def request_logs_csv(request: Request, viewer: SignedIn, app_id: RowId) -> Response:
    """The filtered request logs as CSV, newest first, up to csv_export.MAX_ROWS rows, streamed."""
    app = require_app(request, viewer, app_id)
    filters = Filters.from_query(request.query_params)
    logs = logdata.log_filters_of(request.query_params)
    query = filters.query_at(time.time(), request.app.state.settings.apdex_threshold_ms)
    db = request_db(request)
    with Scope.open(db, app.id, query) as scope, filter_errors():
        resolved = scope.resolved
        if filters.method is not None and filters.path is None:
            resolved = logdata.without_method(scope)
        terms = request_logs.conditions(scope.conn, resolved, query.start, query.end, filters.method, logs)
    return StreamingResponse(
        csv_export.request_logs_csv_bytes(db, resolved, terms),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="request-logs-{app.id}.csv"'},
    )
