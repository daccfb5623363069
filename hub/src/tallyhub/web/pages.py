"""The app's pages: each data page declared once (its route, nav entry and data read it), and the nav."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tallyhub.analytics.scope import Scope
from tallyhub.web import logdata, pagedata


@dataclasses.dataclass(frozen=True)
class DataPage:
    """A page of figures at /apps/{id}/{slug}: `template` renders what `data` computes for the scope."""

    slug: str
    title: str
    template: str
    data: Callable[[Scope], dict[str, Any]]


DATA_PAGES = (
    DataPage("traffic", "Traffic", "page_traffic.html", pagedata.traffic_data),
    DataPage("errors", "Errors", "page_errors.html", pagedata.errors_data),
    DataPage("performance", "Performance", "page_performance.html", pagedata.performance_data),
    DataPage(
        "data-transferred", "Data transferred", "page_data_transferred.html", pagedata.data_transferred_data
    ),
    DataPage("endpoints", "Endpoints", "page_endpoints.html", pagedata.endpoints_data),
    DataPage("consumers", "Consumers", "page_consumers.html", pagedata.consumers_data),
    DataPage("instances", "Instances", "page_instances.html", pagedata.instances_data),
    DataPage("request-logs", "Request logs", "page_request_logs.html", logdata.request_logs_data),
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
