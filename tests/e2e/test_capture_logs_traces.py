"""capture_logs and capture_traces end to end: this project's client and the official 0.25.1, each on
Flask and on FastAPI (apps/capture_app.py, real servers), send a request's application logs and
spans to a real hub, whose read API then shows them exactly as the app wrote them."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.checks import HubView, hub_log, tail, wait_for
from tests.e2e.processes import APPS, AppProcess, free_port, official_python

if TYPE_CHECKING:
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

ENV = "prod"
APP_FILE = APPS / "capture_app.py"
CLIENTS = {"ours": sys.executable, "official": ""}  # the official interpreter is looked up when used
FRAMEWORKS = ("flask", "fastapi")
MAX_MESSAGE = 2048  # PROTOCOL.md §2A.4: a longer message is cut to this, "... (truncated)" included


def source_line(marker: str) -> int:
    """The line of apps/capture_app.py that carries the comment `# line: <marker>`."""
    lines = APP_FILE.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.endswith(f"# line: {marker}"))


def expected_logs() -> list[tuple[str, str, str, str, int]]:
    """(logger, level, message, file, line) of the records GET /orders/7 writes, in order."""
    long_message = "long " + "x" * 3000
    file = str(APP_FILE)
    return [
        ("shop.orders", "WARNING", "order 7 looked up", file, source_line("stdlib warning")),
        ("__main__", "INFO", "order 7 priced", file, source_line("loguru info")),
        (
            "shop.orders",
            "ERROR",
            long_message[: MAX_MESSAGE - 15] + "... (truncated)",
            file,
            source_line("stdlib error"),
        ),
    ]


@pytest.fixture
def started(hub: HubProcess, tmp_path: Path) -> Iterator[dict[tuple[str, str], tuple[AppProcess, HubView]]]:
    """The four apps (ours and official, Flask and FastAPI), each its own app on the hub, all running."""
    apps: dict[tuple[str, str], tuple[AppProcess, HubView]] = {}
    now = time.time()
    try:
        for client, python in CLIENTS.items():
            for framework in FRAMEWORKS:
                created = hub.create_app(f"{client} {framework}", ENV)
                port = free_port()
                app = AppProcess(
                    argv=[python or official_python(), str(APP_FILE)],
                    env={
                        "APITALLY_HUB_BASE_URL": hub.url,
                        "E2E_FRAMEWORK": framework,
                        "E2E_CLIENT_ID": str(created["client_id"]),
                        "E2E_ENV": ENV,
                        "E2E_PORT": str(port),
                        "TMPDIR": str(tmp_path),  # the clients' request-log files
                        "PYTHONUNBUFFERED": "1",
                    },
                    port=port,
                    log_path=tmp_path / f"{client}-{framework}.log",
                )
                apps[client, framework] = (
                    app,
                    HubView(hub, int(str(created["id"])), ENV, now - 120, now + 600),
                )
                app.start()
        yield apps
    finally:
        for app, _ in apps.values():
            app.kill()


def test_both_clients_deliver_the_logs_and_spans_of_a_request_as_the_app_wrote_them(
    hub: HubProcess, started: dict[tuple[str, str], tuple[AppProcess, HubView]]
) -> None:
    answers: dict[tuple[str, str], tuple[dict[str, Any], int, int]] = {}
    for key, (app, _) in started.items():
        before = time.time_ns()
        answer = httpx.get(f"{app.url}/orders/7", timeout=10).raise_for_status().json()
        answers[key] = (answer, before, time.time_ns())

    # The official client sends its log files with a sync (every 10 s at first); ours a second later.
    items: dict[tuple[str, str], dict[str, Any]] = {}

    def all_logged() -> bool:
        for key, (_, view) in started.items():
            if key not in items:
                found = view.get("request-logs")["items"]
                if found:
                    (items[key],) = found
        return len(items) == len(started)

    def context() -> str:
        apps = "".join(f"--- {c} {f} log:\n{tail(a.log())}\n" for (c, f), (a, _) in started.items())
        return f"--- hub log:\n{hub_log(hub)}\n{apps}"

    wait_for(all_logged, 40, "the hub did not store the request log of every app", context)

    shapes = {}
    for key, item in items.items():
        answer, before, after = answers[key]
        details = item["details"]
        logs = details["logs"]
        assert [
            (r["logger"], r["level"], r["message"], r["file"], r["line"]) for r in logs
        ] == expected_logs(), key
        for record in logs:
            assert before / 1e9 - 0.01 <= record["timestamp"] <= after / 1e9 + 0.01, (key, record)
        assert item["trace_id"] == answer["trace_id"], key
        spans = {span["span_id"]: span for span in details["spans"]}
        names = [(s["name"], s["kind"]) for s in spans.values()]
        # The client's root span is renamed after the view function when it starts the trace; FastAPI
        # starts a span of its own around the middleware stack (when a tracer provider is set), which
        # ends after the request log is taken, so it is not among the spans.
        root_name = "get_order" if key[1] == "flask" else "root"
        roots = [span for span in spans.values() if span["name"] == root_name]
        assert len(roots) == 1, (key, names)
        root = roots[0]
        assert root == {
            "span_id": root["span_id"],
            "parent_span_id": None if key[1] == "flask" else root["parent_span_id"],
            "name": root_name,
            "kind": "INTERNAL",
            "start_time": root["start_time"],
            "end_time": root["end_time"],
            "status": None,
            "attributes": None,
        }, key
        assert root["parent_span_id"] not in spans
        (child,) = [span for span in spans.values() if span["name"] == "db.query"]
        assert child == {
            "span_id": child["span_id"],
            "parent_span_id": answer["span_id"],
            "name": "db.query",
            "kind": "CLIENT",
            "start_time": child["start_time"],
            "end_time": child["end_time"],
            "status": "ERROR",
            "attributes": {"db.statement": "SELECT * FROM orders WHERE id = ?", "db.rows": 1},
        }, key
        # (The root span may end after the test has its response: the server sends it first.)
        assert before <= root["start_time"] <= child["start_time"] < child["end_time"] <= root["end_time"], (
            key
        )
        assert child["end_time"] <= after, key
        assert len(child["span_id"]) == 16 and len(item["trace_id"]) == 32
        for span in spans.values():  # every span descends from the root
            ancestor = span
            while ancestor is not root:
                ancestor = spans[ancestor["parent_span_id"]]
        # What the two clients must agree on: the spans' names, kinds and parents' names.
        shapes[key] = (
            sorted(
                (s["name"], s["kind"], spans[s["parent_span_id"]]["name"] if s is not root else None)
                for s in spans.values()
            ),
            sorted(details),
        )
    # Ours and the official client fill the same details, framework by framework.
    for framework in FRAMEWORKS:
        assert shapes["ours", framework] == shapes["official", framework]
