"""The hub against a Flask app instrumented with the plain OpenTelemetry SDK for Python and its OTLP/HTTP
protobuf exporters (traces and cumulative metrics): totals and endpoints equal what was sent, once."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.checks import HubView, logs, wait_for
from tests.e2e.processes import APPS, REPO, AppProcess, free_port
from tests.e2e.proxy import OTLP_HEADERS, LossyProxy

if TYPE_CHECKING:
    # Only for annotations: the root conftest is not importable once pytest loads another conftest.py.
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

# (method, url path, status, route): what the test sends, in order.
SENT = [
    *[("GET", f"/items/{n}", 200, "/items/<int:item_id>") for n in range(1, 9)],
    ("GET", "/items/1404", 404, "/items/<int:item_id>"),
    *[("POST", "/items", 201, "/items") for _ in range(3)],
    ("GET", "/boom", 500, "/boom"),
    ("GET", "/boom", 500, "/boom"),
]


def otel_python() -> str:
    """The Python of the virtual environment holding Flask, the OpenTelemetry SDK and its instrumentation."""
    python = os.environ.get("TALLYHUB_OTEL_PYTHON") or str(REPO / ".venv-otel" / "bin" / "python")
    if not Path(python).exists():
        raise RuntimeError(f"{python} does not exist: run `make setup` to build .venv-otel")
    return python


def start_otel_flask(hub_url: str, token: str, tmp_path: Path, **env: str) -> AppProcess:
    """The plain-SDK Flask app exporting to hub_url every half second (metrics) and 200 ms (spans)."""
    port = free_port()
    app = AppProcess(
        argv=[otel_python(), str(APPS / "otel_flask.py")],
        env={
            "E2E_PORT": str(port),
            "OTEL_SERVICE_NAME": "e2e-shop",
            "OTEL_EXPORTER_OTLP_ENDPOINT": hub_url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {token}",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "PYTHONUNBUFFERED": "1",
            **env,
        },
        port=port,
        log_path=tmp_path / f"otel-flask-{port}.log",
    )
    app.start()
    return app


def send_all(app: AppProcess) -> None:
    with httpx.Client(base_url=app.url, timeout=10) as client:
        for method, path, status, _ in SENT:
            body = {"json": {"name": "thing"}} if method == "POST" else {}
            response = client.request(method, path, **body)
            assert response.status_code == status, response.text


def per_endpoint(sent: list[tuple[str, str, int, str]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for method, _, _, route in sent:
        counts[(method, route)] = counts.get((method, route), 0) + 1
    return counts


@pytest.mark.parametrize("semconv", ["", "http"], ids=["older-semconv", "stable-semconv"])
def test_totals_and_endpoints_equal_what_was_sent_counted_once(
    hub: HubProcess, tmp_path: Path, semconv: str
) -> None:
    started = time.time()
    created = hub.create_app("Shop", "prod")
    app = start_otel_flask(
        hub.url, str(created["write_token"]), tmp_path, OTEL_SEMCONV_STABILITY_OPT_IN=semconv
    )
    view = HubView(hub, int(str(created["id"])), "prod", started - 120, started + 600)
    context = logs(hub, app)
    try:
        send_all(app)
        # Both signals arrive while the app runs: the spans and at least one periodic metrics export.
        wait_for(
            lambda: len(view.get("request-logs", limit=100)["items"]) == len(SENT),
            30,
            "request logs",
            context,
        )
        wait_for(
            lambda: len(view.instances()) == 1, 30, "a metrics export (the instance's heartbeat)", context
        )
        # The SDK's atexit hooks flush both signals: once the app has exited, everything is acknowledged.
        assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"
    finally:
        app.kill()

    totals = view.get("traffic")["totals"]
    assert (totals["requests"], totals["requests_4xx"], totals["requests_5xx"]) == (len(SENT), 1, 2), (
        context()
    )
    endpoints: list[dict[str, Any]] = view.get("endpoints")
    assert {(e["method"].upper(), e["path"]): e["requests"] for e in endpoints} == per_endpoint(SENT)
    items = view.get("request-logs", limit=100)["items"]
    logged = sorted((i["method"], i["url"].removeprefix(app.url), i["status_code"], i["path"]) for i in items)
    assert logged == sorted(SENT)
    (instance,) = view.instances()
    assert instance["client"] == "opentelemetry-python"


# The first traces export holds every span of the first round; metrics are exported every half second.
@pytest.mark.parametrize(("signal_path", "nth"), [("/v1/traces", 1), ("/v1/metrics", 2)])
def test_hub_sigkilled_during_an_export_counts_every_request_once(
    hub: HubProcess, tmp_path: Path, signal_path: str, nth: int
) -> None:
    """The hub stores the SDK's nth export of one signal and is SIGKILLed before answering it."""
    exports = 0
    killed = threading.Event()

    def second_export(path: str, _: bytes) -> bool:
        nonlocal exports
        exports += path == signal_path
        return path == signal_path and exports == nth

    def kill_hub() -> None:
        hub.kill()
        killed.set()

    started = time.time()
    created = hub.create_app("Shop", "prod")
    view = HubView(hub, int(str(created["id"])), "prod", started - 120, started + 600)
    with LossyProxy(
        hub.url, drop=1, on_drop=kill_hub, droppable=second_export, headers=OTLP_HEADERS
    ) as proxy:
        app = start_otel_flask(proxy.url, str(created["write_token"]), tmp_path)
        context = logs(hub, app)
        try:
            send_all(app)
            wait_for(killed.is_set, 30, f"no {signal_path} export was cut short by SIGKILL", context)
            hub.start()  # same port, same database
            send_all(app)
            assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"
        finally:
            app.kill()

    sent = SENT + SENT
    wait_for(
        lambda: len(view.get("request-logs", limit=100)["items"]) == len(sent), 30, "request logs", context
    )
    totals = view.get("traffic")["totals"]
    assert (totals["requests"], totals["requests_4xx"], totals["requests_5xx"]) == (len(sent), 2, 4), (
        context()
    )
    endpoints: list[dict[str, Any]] = view.get("endpoints")
    assert {(e["method"].upper(), e["path"]): e["requests"] for e in endpoints} == per_endpoint(sent)
    (lost,) = [f for f in proxy.forwarded if f.dropped]
    assert lost.hub_status == 200, f"the hub refused the export it was killed answering: {lost}"
