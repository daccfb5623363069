"""This project's client counts every request exactly once, even when the server never closes it.

Werkzeug's development server (`flask run`) skips the response's `close()` when the connection is
reset while it drains the request (a client that goes away right after reading the response), and
Flask's test client never closes a response unless the caller does. Both deliver to a real hub,
whose read API must give back exactly the requests sent.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import signal
import socket
import struct
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.checks import HubView, logs, wait_for
from tests.e2e.processes import APPS, AppProcess, free_port

if TYPE_CHECKING:
    # Only for annotations: the root conftest is not importable once pytest loads another conftest.py.
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

ENV = "dev"
APP = APPS / "ours_flask.py"
CALLS = 400
ITEM, ITEMS, STREAM, BOOM = "/items/<int:item_id>", "/items", "/stream", "/boom"


def plan(n: int) -> list[tuple[str, str, str | None]]:
    """(method, url, route template or None when no route matches) for n requests of every kind."""
    kinds: list[tuple[str, str, str | None]] = [
        ("GET", "/items/{i}", ITEM),
        ("POST", "/items", ITEMS),
        ("GET", "/items/{i}", ITEM),
        ("GET", "/stream", STREAM),
        ("GET", "/boom", BOOM),
        ("GET", "/nowhere/{i}", None),
    ]
    return [(m, u.format(i=i), r) for i in range(n) for m, u, r in [kinds[i % len(kinds)]]]


def expected_counts(calls: list[tuple[str, str, str | None]]) -> Counter[tuple[str, str]]:
    return Counter((method, route) for method, _, route in calls if route is not None)


class _ResettingConnection(http.client.HTTPConnection):
    """Closes with a TCP reset (SO_LINGER 0): the server's drain of the request then fails."""

    def connect(self) -> None:
        super().connect()
        assert self.sock is not None
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _ResettingHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_ResettingConnection, req)  # type: ignore[arg-type]


def send(base: str, calls: list[tuple[str, str, str | None]]) -> None:
    """Each call through urllib.request; every other one closes with a reset after reading."""
    plain, resetting = urllib.request.build_opener(), urllib.request.build_opener(_ResettingHandler)
    for n, (method, url, _) in enumerate(calls):
        data = json.dumps({"name": "gear"}).encode() if method == "POST" else None
        request = urllib.request.Request(base + url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        opener = resetting if n % 2 else plain
        try:
            with opener.open(request, timeout=30) as response:
                response.read()
        except urllib.error.HTTPError as error:  # 404, 500: read like any other response
            error.read()
            error.close()


def view_of(hub: HubProcess) -> tuple[str, HubView]:
    now = time.time()
    created = hub.create_app("No loss", ENV)
    return str(created["client_id"]), HubView(hub, int(str(created["id"])), ENV, now - 120, now + 600)


def hub_counts(view: HubView) -> Counter[tuple[str, str]]:
    return Counter(
        {(e["method"].upper(), e["path"]): e["requests"] for e in view.get("endpoints") if e["requests"]}
    )


def test_flask_run_with_connection_resets_counts_every_request_once(hub: HubProcess, tmp_path: Path) -> None:
    client_id, view = view_of(hub)
    port = free_port()
    flask = Path(sys.executable).parent / "flask"
    app = AppProcess(
        argv=[str(flask), "--app", str(APP), "run", "--host", "127.0.0.1", "--port", str(port)],
        env={
            "APITALLY_HUB_BASE_URL": hub.url,
            "APITALLY_DEBUG": "1",
            "E2E_CLIENT_ID": client_id,
            "E2E_ENV": ENV,
            "TMPDIR": str(tmp_path),  # the client's instance lock files
            "PYTHONUNBUFFERED": "1",
        },
        port=port,
        log_path=tmp_path / "flask-run.log",
    )
    app.start()
    try:
        calls = plan(CALLS)
        send(app.url, calls)
        assert app.process is not None
        app.process.send_signal(signal.SIGINT)  # Ctrl-C: `flask run` exits normally, the client flushes
        assert app.process.wait(timeout=30) == 0, app.log()
    finally:
        app.kill()

    expected = expected_counts(calls)
    wait_for(
        lambda: view.total_requests() == expected.total(),
        15,
        f"the hub did not report the {expected.total()} requests sent",
        lambda: f"the hub has {view.total_requests()}\n{logs(hub, app)()}",
    )
    assert hub_counts(view) == expected
    assert view.get("traffic")["totals"]["requests_5xx"] == expected["GET", BOOM]


def load_app(hub_url: str, client_id: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("APITALLY_HUB_BASE_URL", hub_url)
    monkeypatch.setenv("E2E_CLIENT_ID", client_id)
    monkeypatch.setenv("E2E_ENV", ENV)
    spec = importlib.util.spec_from_file_location("ours_flask_for_noloss", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def test_test_client_without_closing_responses_counts_every_request_once(
    hub: HubProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id, view = view_of(hub)
    app = load_app(hub.url, client_id, monkeypatch)
    client = app.test_client()
    calls = plan(CALLS)
    held = []
    for n, (method, url, _) in enumerate(calls):
        response = client.open(url, method=method, json={"name": "gear"} if method == "POST" else None)
        # Never closed: read, or not read and dropped at once, or kept for a while and dropped later.
        if n % 3 == 0:
            response.get_data()
        elif n % 3 == 1:
            held.append(response)
        del response
    del held
    app.wsgi_app.client.shutdown(timeout=10)  # the exit flush

    expected = expected_counts(calls)
    wait_for(
        lambda: view.total_requests() == expected.total(),
        15,
        f"the hub did not report the {expected.total()} requests sent",
        lambda: f"the hub has {view.total_requests()}",
    )
    assert hub_counts(view) == expected
    assert view.get("traffic")["totals"]["requests_5xx"] == expected["GET", BOOM]
