"""Read back through the hub's read API and compare with the model of what was sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx

from tests.e2e.mix import BOB, Api
from tests.e2e.model import Expected, api_stats
from tests.e2e.processes import AppProcess
from tests.e2e.traffic import Sent

if TYPE_CHECKING:
    # Only for annotations: the root conftest is not importable once pytest loads another conftest.py.
    from tests.support.hub_process import HubProcess


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def hub_log(hub: HubProcess) -> str:
    return tail(hub.log_path.read_text(errors="replace")) if hub.log_path.exists() else ""


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, context: Callable[[], str] = lambda: ""
) -> None:
    """Poll `condition` (HTTP errors count as False) until it holds, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            if condition():
                return
        except httpx.HTTPError as exc:
            last_error = f" (last error: {exc!r})"
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s{last_error}\n{context()}")
        time.sleep(0.25)


def logs(hub: HubProcess, app: AppProcess) -> Callable[[], str]:
    """The tails of both logs, for failure messages."""
    return lambda: f"--- hub log:\n{hub_log(hub)}\n--- app log:\n{tail(app.log())}"


class HubView:
    """The read API of one app over a fixed time range."""

    def __init__(self, hub: HubProcess, app_id: int, env: str | None, start: float, end: float) -> None:
        self.hub = hub
        self.app_id = app_id
        self.params: dict[str, Any] = {"env": env, "start": int(start), "end": int(end) + 1}

    def get(self, what: str, **params: Any) -> Any:
        """GET /api/v1/apps/{id}/{what} (not through hub.api, whose own argument is named `path`)."""
        if not self.hub.token:
            self.hub.api("/apps")  # creates the hub's read-API token
        query = {k: v for k, v in {**self.params, **params}.items() if v is not None}
        response = httpx.get(
            f"{self.hub.url}/api/v1/apps/{self.app_id}/{what}",
            params=query,
            headers={"Authorization": f"Bearer {self.hub.token}"},
            timeout=30,
        )
        assert response.status_code == 200, f"GET {response.url}: {response.status_code} {response.text}"
        return response.json()

    def total_requests(self) -> int:
        return int(self.get("traffic")["totals"]["requests"])

    def instances(self) -> list[dict[str, Any]]:
        return list(self.get("instances", start=None, end=None))


def start_instrumented(
    hub: HubProcess,
    start_app: Callable[[str, str, str], AppProcess],
    env: str,
    hub_url: str = "",
    instances: int = 1,
) -> tuple[AppProcess, HubView]:
    """Create an app on the hub, start the instrumented API, and wait until the hub has its startup
    (from each of its `instances` processes).

    `hub_url` is where the client sends its data (default: the hub itself).
    """
    now = time.time()
    created = hub.create_app("Shop", env)
    app = start_app(hub_url or hub.url, str(created["client_id"]), env)
    view = HubView(hub, int(str(created["id"])), env, now - 120, now + 600)
    wait_for(
        lambda: len(view.instances()) == instances,
        20,
        "the hub recorded no startup of the app",
        logs(hub, app),
    )
    return app, view


def assert_reports(view: HubView, expected: Expected, routes: Iterable[tuple[str, str]]) -> None:
    """Every figure the read API gives for the app equals the model's."""
    traffic = view.get("traffic")
    assert api_stats(traffic["totals"]) == api_stats(expected.totals.as_api()), "traffic totals"
    series_sum = sum(point["requests"] for point in traffic["series"])
    assert series_sum == expected.totals.requests, "the traffic series adds up to the totals"

    endpoints = {(e["method"].upper(), e["path"]): api_stats(e) for e in view.get("endpoints")}
    assert endpoints == expected.endpoint_stats(routes), "endpoints (every declared route, with stats)"

    consumers = {
        c["identifier"]: {"name": c["name"], "group": c["group"], **api_stats(c)}
        for c in view.get("consumers")
    }
    assert consumers == expected.consumer_rows(), "consumers"

    errors = view.get("errors")
    server_errors = {
        (e["method"].upper(), e["path"], e["type"], e["msg"]): {
            "count": e["count"],
            "consumers": sorted(e["consumers"]),
        }
        for e in errors["server_errors"]
    }
    assert server_errors == expected.server_error_rows(), "server errors"
    validation_errors = {
        (e["method"].upper(), e["path"], tuple(e["loc"]), e["msg"], e["type"]): e["count"]
        for e in errors["validation_errors"]
    }
    assert validation_errors == dict(expected.validation_errors), "validation errors"


def assert_errors_and_slow_route(view: HubView) -> None:
    """Each server error has its full traceback; the slow route's p50 shows its 120 ms."""
    for error in view.get("errors")["server_errors"]:
        assert error["traceback"].startswith("Traceback (most recent call last):")
        assert error["traceback"].rstrip().endswith(error["msg"])
    (slow,) = [e for e in view.get("endpoints") if e["path"] == "/slow"]
    assert slow["p50"] is not None and slow["p50"] >= 120


def assert_request_logs(
    view: HubView,
    app: AppProcess,
    context: Callable[[], str],
    logged: Iterable[tuple[str, str, str | None, int, str | None]],
) -> list[dict[str, Any]]:
    """The hub's request logs are exactly `logged`: (method, URL after the app's base URL, route,
    status, consumer identifier) each. Returns the log items."""
    wanted = sorted(logged, key=repr)
    wait_for(
        lambda: len(view.get("request-logs", limit=1000)["items"]) == len(wanted), 20, "request logs", context
    )
    items: list[dict[str, Any]] = view.get("request-logs", limit=1000)["items"]
    found = sorted(
        (
            (i["method"], i["url"].removeprefix(app.url), i["path"], i["status_code"], i["consumer"])
            for i in items
        ),
        key=repr,
    )
    assert found == wanted
    return items


def assert_ours_delivered(
    hub: HubProcess,
    app: AppProcess,
    view: HubView,
    sent: list[Sent],
    api: Api,
    expected: Expected,
    *,
    client: str,
    versions: Iterable[str],
    instances: int = 1,
    unrouted_logged: bool = False,
) -> None:
    """After this project's client ran the mix under a real server and the app stopped (its exit
    flush): the hub's figures, instances, tracebacks and request logs are those of what was sent.

    `client` is the instances' client name, `versions` packages each instance reports;
    `unrouted_logged`: a request that matched no route is a request log too (ASGI middleware sees it).
    """
    context = logs(hub, app)
    wait_for(
        lambda: view.total_requests() == expected.totals.requests,
        20,
        f"the hub did not report the {expected.totals.requests} requests sent",
        context,
    )
    assert_reports(view, expected, api.routes())  # includes DELETE, known from startup only
    assert expected.validation_errors, "the mix has validation errors"

    found = view.instances()
    assert len(found) == instances
    for instance in found:
        assert instance["client"] == client
        assert instance["app_version"] == "1.0.0-e2e"
        assert set(versions) <= set(instance["versions"]), instance["versions"]

    assert_errors_and_slow_route(view)
    logged_calls = [s.call for s in sent if unrouted_logged or s.call.route is not None]
    items = assert_request_logs(
        view,
        app,
        context,
        (
            (c.method, c.url, c.route, c.status, c.consumer.identifier if c.consumer and c.route else None)
            for c in logged_calls
        ),
    )
    assert any(i["consumer"] == BOB.identifier for i in items)
