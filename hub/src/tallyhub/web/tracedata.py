"""What the pages across logged requests show: the application logs, and the spans grouped by name.

Presentation only: the rows come from tallyhub.analytics.app_logs and .spans; their filters are
parsed there (and the dashboard's own by web.filters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from tallyhub.analytics import app_logs, spans
from tallyhub.analytics.app_logs import AppLogFilters
from tallyhub.analytics.scope import Scope
from tallyhub.web.filters import Filters, filter_errors
from tallyhub.web.logdata import PAGE_SIZE, before_param

SPAN_NAMES_SHOWN = 50
APP_LOG_FILTER_TEMPLATE = "_app_log_filters.html"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def app_log_filters_of(params: Mapping[str, str]) -> AppLogFilters:
    """The app-log filters of the URL; FilterError (the dashboard's 400 page) names a bad one."""
    with filter_errors():
        return app_logs.parse_app_log_filters(params)


def app_logs_href(filters: Filters, logs: AppLogFilters, target: str, **extra: Any) -> str:
    """`target` with the dashboard's and the app-log filters (and `extra`) in its query string."""
    params = [*filters.params(), *logs.params(), *((k, str(v)) for k, v in extra.items() if v is not None)]
    return target + ("?" + urlencode(params) if params else "")


def app_logs_data(scope: Scope) -> dict[str, Any]:
    """The application-logs page: one page of log records, newest first, and where the next page is."""
    logs = app_log_filters_of(scope.params)
    before = before_param(scope.params, "a log record")
    page = app_logs.list_app_logs(
        scope.conn, scope.resolved.env_names, scope.query.start, scope.query.end, PAGE_SIZE, before, logs
    )
    return {
        "items": page["items"],
        "next_before": page["next_before"],
        "older": before is not None,
        "app_log_filters": logs,
        "levels": LEVELS,
        "extra_filters": APP_LOG_FILTER_TEMPLATE,
        "href": app_logs_href,
    }


def traces_data(scope: Scope) -> dict[str, Any]:
    """The traces page: the slowest span names over the range with example requests of each."""
    found = spans.slowest_spans(
        scope.conn, scope.resolved.env_names, scope.query.start, scope.query.end, SPAN_NAMES_SHOWN
    )
    return {"span_names": found["names"], "total_names": found["total"]}
