"""The dashboard's pages: each data page declared once (route, nav entry, data read, filters), and the nav.

Every page of figures declares the URL filters it honours (PageFilters): the filter bar shows those
and no other, the page's data query applies those and no other, and the filters it does not use are
carried along unchanged (hidden fields, links) so they still hold on the next page that does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tallyhub.analytics.scope import Scope
from tallyhub.web import logdata, pagedata, tracedata
from tallyhub.web.filters import DATA_FILTERS


@dataclasses.dataclass(frozen=True)
class PageFilters:
    """The filters a page shows in its filter bar, and those that name what it shows (e.g. an endpoint)."""

    shown: tuple[str, ...] = DATA_FILTERS  # the time range is always shown
    identity: tuple[str, ...] = ()  # kept by the page's links and hidden fields, never in the bar

    @property
    def honoured(self) -> tuple[str, ...]:
        """The filters the page's data query applies."""
        return self.shown + self.identity


ENV_AND_TIME = PageFilters(shown=("env",))
# The apps overview spans every app: an endpoint, status or consumer means nothing across apps.
OVERVIEW_FILTERS = ENV_AND_TIME
ENDPOINT_DETAIL_FILTERS = PageFilters(
    shown=("env", "consumer", "group", "status"), identity=("method", "path")
)
CONSUMER_DETAIL_FILTERS = PageFilters(shown=("env", "method", "path", "status"), identity=("consumer",))


@dataclasses.dataclass(frozen=True)
class DataPage:
    """A page of figures at /apps/{id}/{slug}: `template` renders what `data` computes for the scope."""

    slug: str
    title: str
    template: str
    data: Callable[[Scope], dict[str, Any]]
    filters: PageFilters = PageFilters()


DATA_PAGES = (
    DataPage("traffic", "Traffic", "page_traffic.html", pagedata.traffic_data),
    DataPage("errors", "Errors", "page_errors.html", pagedata.errors_data),
    DataPage("performance", "Performance", "page_performance.html", pagedata.performance_data),
    DataPage(
        "data-transferred", "Data transferred", "page_data_transferred.html", pagedata.data_transferred_data
    ),
    DataPage("endpoints", "Endpoints", "page_endpoints.html", pagedata.endpoints_data),
    DataPage("consumers", "Consumers", "page_consumers.html", pagedata.consumers_data),
    # An instance is a process of an env: it has no endpoint, status or consumer of its own.
    DataPage("instances", "Instances", "page_instances.html", pagedata.instances_data, ENV_AND_TIME),
    DataPage("request-logs", "Request logs", "page_request_logs.html", logdata.request_logs_data),
    # Log records and spans have an env and a time only: the request's other filters do not apply.
    DataPage("app-logs", "App logs", "page_app_logs.html", tracedata.app_logs_data, ENV_AND_TIME),
    DataPage("traces", "Traces", "page_traces.html", tracedata.traces_data, ENV_AND_TIME),
)


@dataclasses.dataclass(frozen=True)
class NavLink:
    """An entry of the app navigation: /apps/{id}/{slug}, shown to admins only if `admin_only`."""

    slug: str
    label: str
    admin_only: bool = False


APP_NAV = (
    *(NavLink(page.slug, page.title) for page in DATA_PAGES),
    NavLink("uptime", "Uptime"),
    NavLink("setup", "Setup"),
    NavLink("alerts", "Alerts"),
    NavLink("settings", "Settings", admin_only=True),
)
