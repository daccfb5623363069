"""The hub against the official Python client 1.0 (OTLP), apitally[flask]==1.0.0 and apitally[fastapi]==1.0.0,
each in a real server process: the read API equals what was sent."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.checks import HubView, assert_reports, logs, wait_for
from tests.e2e.mix import FASTAPI, FLASK, Api, phase
from tests.e2e.model import Expected
from tests.e2e.processes import APPS, REPO, AppProcess, free_port
from tests.e2e.proxy import OTLP_HEADERS, LossyProxy
from tests.e2e.traffic import Sent, send

if TYPE_CHECKING:
    # Only for annotations: the root conftest is not importable once pytest loads another conftest.py.
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

ENV = "prod"


def official_otlp_python() -> str:
    """The Python of the virtual environment holding `apitally[flask,fastapi]==1.0.0` and uvicorn."""
    python = os.environ.get("TALLYHUB_OFFICIAL_OTLP_PYTHON") or str(
        REPO / ".venv-official-otlp" / "bin" / "python"
    )
    if not Path(python).exists():
        raise RuntimeError(f"{python} does not exist: run `make setup` to build .venv-official-otlp")
    return python


def start_app(hub: HubProcess, script: str, tmp_path: Path, endpoint: str = "") -> tuple[AppProcess, HubView]:
    """Create an app on the hub and start `script` exporting to `endpoint` (default: the hub itself)."""
    started = time.time()
    created = hub.create_app("Shop", ENV)
    port = free_port()
    app = AppProcess(
        argv=[official_otlp_python(), str(APPS / script)],
        env={
            "APITALLY_OTLP_ENDPOINT": endpoint or hub.url,
            "E2E_WRITE_TOKEN": str(created["write_token"]),
            "E2E_ENV": ENV,
            "E2E_PORT": str(port),
            "TMPDIR": str(tmp_path),
            "PYTHONUNBUFFERED": "1",
        },
        port=port,
        log_path=tmp_path / "app.log",
    )
    app.start()
    return app, HubView(hub, int(str(created["id"])), ENV, started - 120, started + 600)


def identified(sent: Sent, framework: str) -> str | None:
    """The consumer the app names: FastAPI runs no dependency (ours sets it) for a URL matching no route."""
    if sent.call.consumer is None or (framework == "fastapi" and sent.call.route is None):
        return None
    return sent.call.consumer.identifier


def assert_everything_sent_is_reported(
    hub: HubProcess, app: AppProcess, view: HubView, sent: list[Sent], api: Api, framework: str
) -> None:
    """Counts, endpoints, consumers, errors, the instance, and a request log with its app logs per request."""
    expected = Expected(sent)
    context = logs(hub, app)

    def arrived() -> int:
        return len(view.get("request-logs", limit=1000)["items"])

    wait_for(
        lambda: arrived() == len(sent),
        30,
        "request logs",
        lambda: f"{arrived()} of the {len(sent)} requests sent were logged\n{context()}",
    )
    wait_for(lambda: view.total_requests() >= expected.totals.requests, 30, "requests counted", context)
    assert_reports(view, expected, api.routes())

    (instance,) = view.instances()
    assert (instance["client"], instance["app_version"]) == (f"apitally-py:{framework}", "1.0.0-e2e")

    # Every request is a request log, those that matched no route too (apitally 1.0 samples none out).
    items: list[dict[str, Any]] = view.get("request-logs", limit=1000)["items"]
    logged = sorted(
        (
            (i["method"], i["url"].removeprefix(app.url), i["path"], i["status_code"], i["consumer"])
            for i in items
        ),
        key=repr,
    )
    assert logged == sorted(
        (
            (
                s.call.method,
                s.call.url,
                s.call.route,
                s.call.status,
                identified(s, framework),
            )
            for s in sent
        ),
        key=repr,
    )
    for item in items:
        exception = item["details"]["exception"]
        if item["status_code"] == 500:
            assert exception["message"] in {
                "kaboom",
                "card declined for order o-1",
                "card declined for order o-2",
            }
        else:
            assert exception is None
        # The app's own log lines, captured and joined to their request (Flask logs each unhandled exception).
        item_id = item["url"].rsplit("/", 1)[1]
        expected_logs = []
        if item["path"] == api.item and item["method"] == "GET" and item["status_code"] == 200:
            expected_logs = [("shop", f"item {item_id} looked up")]
        elif item["status_code"] == 500 and framework == "flask":
            path = item["url"].removeprefix(app.url)
            expected_logs = [("official_otlp_flask", f"Exception on {path} [{item['method']}]")]
        messages = [(log["logger"], log["message"]) for log in item["details"]["logs"]]
        assert messages == expected_logs, item


def test_flask_requests_consumers_errors_and_logs_equal_what_was_sent(
    hub: HubProcess, tmp_path: Path
) -> None:
    app, view = start_app(hub, "official_otlp_flask.py", tmp_path)
    try:
        sent = send(app.url, [*phase(FLASK, 1), *phase(FLASK, 2)])
        # A graceful stop: the client's atexit hook drains its last export.
        assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"
    finally:
        app.kill()
    assert_everything_sent_is_reported(hub, app, view, sent, FLASK, "flask")


def test_fastapi_requests_consumers_errors_and_logs_equal_what_was_sent(
    hub: HubProcess, tmp_path: Path
) -> None:
    app, view = start_app(hub, "official_otlp_fastapi.py", tmp_path)
    try:
        sent = send(app.url, [*phase(FASTAPI, 1), *phase(FASTAPI, 2)], keep_alive=False)
        # A graceful stop: the client drains its last export in uvicorn's lifespan shutdown, after which
        # uvicorn re-raises the SIGTERM it caught (so the exit status is -SIGTERM, not 0).
        assert app.stop() == -signal.SIGTERM, f"the app did not exit cleanly:\n{app.log()}"
    finally:
        app.kill()
    assert_everything_sent_is_reported(hub, app, view, sent, FASTAPI, "fastapi")


def test_hub_sigkilled_during_an_export_loses_nothing_acknowledged_and_counts_no_retry_twice(
    hub: HubProcess, tmp_path: Path
) -> None:
    # Exports every 5 s (the hub's Apitally-Export-Interval), so that the test waits for a few of them only.
    interval = {"TALLYHUB_OTLP_EXPORT_INTERVAL_SECONDS": "5"}
    hub.stop()
    hub.start(**interval)
    metrics_exports = 0

    def second_metrics_export(path: str, _: bytes) -> bool:
        nonlocal metrics_exports
        metrics_exports += path == "/v1/metrics"
        return path == "/v1/metrics" and metrics_exports == 2

    killed = threading.Event()

    def kill_hub() -> None:
        hub.kill()
        killed.set()

    # The hub stores the second metrics export and is SIGKILLed before its answer leaves.
    with LossyProxy(
        hub.url, drop=1, on_drop=kill_hub, droppable=second_metrics_export, headers=OTLP_HEADERS
    ) as proxy:
        app, view = start_app(hub, "official_otlp_flask.py", tmp_path, endpoint=proxy.url)
        context = logs(hub, app)
        try:
            first = send(app.url, phase(FLASK, 1))
            acknowledged = Expected(first).totals.requests
            wait_for(lambda: view.total_requests() == acknowledged, 30, "the first export counted", context)

            second = send(app.url, phase(FLASK, 2))
            wait_for(killed.is_set, 30, "no export was cut short by SIGKILL", context)
            hub.start(**interval)  # same port, same database
            assert view.total_requests() >= acknowledged, "requests the hub had acknowledged were lost"

            third = send(app.url, phase(FLASK, 3))
            # The client's atexit drain sends what it could not deliver, then the rest.
            assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"
        finally:
            app.kill()

    everything = Expected([*first, *second, *third])
    wait_for(
        lambda: view.total_requests() >= everything.totals.requests, 30, "every request counted", context
    )
    assert_reports(view, everything, FLASK.routes())
    # The export whose answer was lost had been stored, and the client sent the very same body again.
    (lost,) = [f for f in proxy.forwarded if f.dropped]
    assert lost.hub_status == 200, f"the hub refused the export it was killed answering: {lost}"
    again = [f for f in proxy.forwarded if f.body_sha256 == lost.body_sha256 and not f.dropped]
    assert again and all(f.hub_status == 200 for f in again), f"not retried as it was: {proxy.forwarded}"
