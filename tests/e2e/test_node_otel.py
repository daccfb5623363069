"""The hub against an Express app instrumented with the plain OpenTelemetry SDK for Node (no Apitally client):
traces only, then traces and metrics; the read API equals what was sent, no request counted twice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.checks import HubView, hub_log, tail, wait_for
from tests.e2e.processes import AppProcess, free_port

if TYPE_CHECKING:
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

NODE_OTEL = Path(__file__).resolve().parent / "node-otel"
# (method, url path, consumer, status, route): what the test sends, in order.
SENT = [
    *[("GET", f"/items/{n}", "alice" if n % 2 else None, 200, "/items/:id") for n in range(1, 8)],
    ("GET", "/items/404", "bob", 404, "/items/:id"),
    ("POST", "/items", "bob", 201, "/items"),
    ("POST", "/items", None, 201, "/items"),
    ("GET", "/boom", None, 500, "/boom"),
]


def start_app(hub: HubProcess, token: str, tmp_path: Path, metrics: bool) -> AppProcess:
    if not (NODE_OTEL / "node_modules" / "@opentelemetry" / "sdk-node" / "package.json").exists():
        raise RuntimeError(f"{NODE_OTEL}/node_modules is missing: run `make e2e-node` (make test does)")
    port = free_port()
    app = AppProcess(
        argv=["node", str(NODE_OTEL / "app.cjs")],
        env={
            "E2E_PORT": str(port),
            "E2E_METRICS": "1" if metrics else "0",
            "OTEL_SERVICE_NAME": "e2e-shop",
            "OTEL_EXPORTER_OTLP_ENDPOINT": hub.url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {token}",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
        port=port,
        log_path=tmp_path / "node-otel.log",
    )
    app.start()
    return app


@pytest.mark.parametrize("metrics", [False, True], ids=["traces-only", "traces-and-metrics"])
def test_requests_their_logs_and_traces_equal_what_was_sent(
    hub: HubProcess, tmp_path: Path, metrics: bool
) -> None:
    started = time.time()
    created = hub.create_app("Shop", "prod")
    app = start_app(hub, str(created["write_token"]), tmp_path, metrics)
    view = HubView(hub, int(str(created["id"])), "prod", started - 120, started + 600)
    try:
        with httpx.Client(base_url=app.url, timeout=10) as client:
            for method, path, consumer, status, _ in SENT:
                headers = {"x-consumer": consumer} if consumer else {}
                body = {"json": {"name": "thing"}} if method == "POST" else {}
                response = client.request(method, path, headers=headers, **body)
                assert response.status_code == status, response.text
        if metrics:
            time.sleep(1.5)  # at least one periodic metrics export while the app runs
        assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"
    finally:
        app.kill()

    def report() -> str:
        return f"--- hub log:\n{hub_log(hub)}\n--- app log:\n{tail(app.log())}"

    wait_for(
        lambda: len(view.get("request-logs", limit=100)["items"]) == len(SENT), 20, "request logs", report
    )
    wait_for(lambda: view.total_requests() == len(SENT), 20, f"{len(SENT)} requests counted", report)
    totals = view.get("traffic")["totals"]
    assert (totals["requests"], totals["requests_4xx"], totals["requests_5xx"]) == (len(SENT), 1, 1)
    per_endpoint: dict[tuple[str, str], int] = {}
    for method, _, _, _, route in SENT:
        per_endpoint[(method, route)] = per_endpoint.get((method, route), 0) + 1
    assert {(e["method"].upper(), e["path"]): e["requests"] for e in view.get("endpoints")} == per_endpoint

    items: list[dict[str, Any]] = view.get("request-logs", limit=100)["items"]
    logged = sorted(
        (
            (i["method"], i["url"].removeprefix(app.url), i["consumer"], i["status_code"], i["path"])
            for i in items
        ),
        key=repr,
    )
    assert logged == sorted(SENT, key=repr)
    for item in items:
        spans = item["details"]["spans"]
        assert item["trace_id"] and all(s["start_time"] <= s["end_time"] for s in spans)
        if item["path"] == "/items/:id":
            # The app's own child span, with its attribute, below the SERVER span (through Express's spans).
            (load,) = [s for s in spans if s["name"] == "load item"]
            assert load["attributes"] == {"item.id": int(item["url"].rsplit("/", 1)[1])}
            assert any(s["name"].startswith("request handler") for s in spans)
