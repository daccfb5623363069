"""Every request is counted exactly once: at the end of its body, on close(), or when it is dropped.

The app is driven through `app.wsgi_app` as a WSGI server would, except for what the test says the
server leaves out (the close, the iteration, both), and through Flask's test client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from apitally.flask import ApitallyMiddleware
from flask import Flask, Response
from werkzeug.test import EnvironBuilder

CLIENT_ID = "8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11"
ITEM, STREAM = "/items/<int:item_id>", "/stream"
# A body with a Content-Length (Werkzeug's ClosingIterator, given one more callback) and one without
# (wrapped by the client, which counts the bytes sent).
PATHS = pytest.mark.parametrize(("url", "route", "size"), [("/items/7", ITEM, 9), ("/stream", STREAM, 3000)])


def make_app(hub_url: str, **options: Any) -> Flask:
    app = Flask(__name__)
    # Not logged: pytest keeps log records, whose tracebacks would keep the 500s' responses alive.
    app.logger.disabled = True
    app.get("/items/<int:item_id>")(lambda item_id: {"id": item_id})

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[bytes]:
            yield b"x" * 1500
            yield b"y" * 1500

        return Response(chunks(), mimetype="text/plain")

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("kaboom")

    app.wsgi_app = ApitallyMiddleware(app, client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)  # type: ignore[method-assign]
    return app


def respond(app: Flask, url: str) -> Iterable[bytes]:
    """The body the app hands the server for GET url."""
    environ = EnvironBuilder(path=url).get_environ()
    return app.wsgi_app(environ, lambda status, headers, exc_info=None: None)


def client_of(app: Flask) -> Any:
    return app.wsgi_app.client  # type: ignore[attr-defined]


def flush(app: Flask) -> None:
    client_of(app).shutdown(timeout=5)


@PATHS
def test_a_second_close_counts_nothing(hub: Any, url: str, route: str, size: int) -> None:
    app = make_app(hub.url)
    body = respond(app, url)
    assert len(b"".join(body)) == size
    body.close()  # type: ignore[attr-defined]
    body.close()  # type: ignore[attr-defined]
    flush(app)
    assert hub.count(path=route) == 1


@PATHS
def test_a_body_read_to_its_end_and_never_closed_is_counted(
    hub: Any, url: str, route: str, size: int
) -> None:
    app = make_app(hub.url)
    body = respond(app, url)
    assert len(b"".join(body)) == size
    flush(app)  # the body is still held, unclosed
    (row,) = [r for r in hub.requests() if r["path"] == route]
    assert (row["request_count"], row["response_size_sum"]) == (1, size)
    del body


@PATHS
def test_the_time_runs_to_the_end_of_the_body_not_to_a_late_close(
    hub: Any, url: str, route: str, size: int
) -> None:
    app = make_app(hub.url)
    body = respond(app, url)
    b"".join(body)
    time.sleep(0.5)  # the server is slow to close (Werkzeug's drains the request first)
    body.close()  # type: ignore[attr-defined]
    flush(app)
    (row,) = [r for r in hub.requests() if r["path"] == route]
    assert [int(ms) for ms in row["response_times"]] < [500]


@PATHS
def test_a_body_dropped_unread_and_unclosed_is_counted_by_the_worker(
    hub: Any, url: str, route: str, size: int
) -> None:
    app = make_app(hub.url)
    body = respond(app, url)
    del body  # finalised here: the worker records it
    assert len(client_of(app).requests.late) == 1
    flush(app)
    assert hub.count(path=route) == 1


def test_a_body_read_halfway_and_closed_is_counted_on_close(hub: Any) -> None:
    app = make_app(hub.url)
    body = respond(app, "/stream")
    assert next(iter(body)) == b"x" * 1500
    body.close()  # type: ignore[attr-defined]  # the client went away: the server stops and closes
    assert len(client_of(app).requests.noted) == 1
    flush(app)
    (row,) = [r for r in hub.requests() if r["path"] == STREAM]
    assert (row["request_count"], row["response_size_sum"]) == (1, 1500)


def test_test_client_responses_never_closed_are_counted_with_their_errors(hub: Any) -> None:
    app = make_app(hub.url)
    client = app.test_client()
    kept = []
    for n in range(30):
        response = client.get(("/items/1", "/stream", "/boom")[n % 3])
        if n % 2:
            response.get_data()
        else:
            kept.append(response)
        del response
    del kept
    flush(app)  # a 500 dropped unread sits in a reference cycle (its traceback's frames) until collected
    assert [hub.count(path=p) for p in (ITEM, STREAM, "/boom")] == [10, 10, 10]
    (error,) = [e for s in hub.bodies("sync") for e in s["server_errors"]]
    assert (error["type"], error["error_count"]) == ("builtins.ValueError", 10)


def test_a_finaliser_takes_no_lock_of_the_client(hub: Any) -> None:
    # Recording a request takes the client's locks (here the request log's); a finaliser may run
    # in a thread that holds one: it only hands the request to the worker.
    app = make_app(hub.url, enable_request_logging=True)
    held = [respond(app, "/items/7")]
    logger = client_of(app).request_logger

    def drop_holding_the_lock() -> None:
        with logger._lock:
            held.clear()

    thread = threading.Thread(target=drop_holding_the_lock, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the finaliser waited for a lock its own thread holds"
    flush(app)
    assert hub.count(path=ITEM) == 1
    assert [line["request"]["url"] for line in hub.log_lines()] == ["http://localhost/items/7"]
