"""The Flask middleware, driven through Flask's test client, delivering to a recording hub."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from apitally.flask import ApitallyConsumer, ApitallyMiddleware, set_consumer
from flask import Flask, Response, g, stream_with_context

CLIENT_ID = "8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11"


def make_app(hub_url: str, **options: Any) -> Flask:
    app = Flask(__name__)

    @app.before_request
    def identify() -> None:
        from flask import request

        if consumer := request.headers.get("X-Consumer"):
            g.apitally_consumer = consumer

    @app.get("/items/<int:item_id>")
    def get_item(item_id: int) -> dict[str, Any]:
        return {"id": item_id}

    @app.route("/things/<int:thing_id>", endpoint="thing")
    @app.route("/things/by-name/<name>", endpoint="thing")
    def thing(thing_id: int = 0, name: str = "") -> dict[str, Any]:
        return {"id": thing_id, "name": name}

    @app.post("/echo")
    def echo() -> Any:
        from flask import request

        return request.get_json()

    @app.get("/boom")
    def boom() -> dict[str, Any]:
        raise ValueError("kaboom")

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[bytes]:
            for _ in range(2):
                time.sleep(0.03)
                yield b"x" * 1500

        return Response(stream_with_context(chunks()), mimetype="text/plain")

    @app.get("/slash/")
    def slash() -> str:
        return "ok"

    @app.get("/named")
    def named() -> str:
        set_consumer("  alice  ", name="Alice", group="Admins")
        return "ok"

    @app.get("/object")
    def obj() -> str:
        g.apitally_consumer = ApitallyConsumer("x" * 200, name="n" * 100, group=" G ")
        return "ok"

    app.wsgi_app = ApitallyMiddleware(app, client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)  # type: ignore[method-assign]
    return app


def call(app: Flask, method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
    """One request, read and closed as a WSGI server would."""
    with app.test_client().open(url, method=method, **kwargs) as response:
        return response.status_code, response.get_data()


def flush(app: Flask) -> None:
    app.wsgi_app.client.shutdown(timeout=5)  # type: ignore[attr-defined]


def test_counts_by_consumer_method_route_and_status(hub: Any) -> None:
    app = make_app(hub.url)
    for i in range(3):
        assert call(app, "GET", f"/items/{i}", headers={"X-Consumer": "c1"})[0] == 200
    assert call(app, "POST", "/echo", json={"a": "b" * 1500})[0] == 200
    assert call(app, "GET", "/nowhere")[0] == 404
    flush(app)
    rows = {(r["consumer"], r["method"], r["path"], r["status_code"]): r for r in hub.requests()}
    item = rows[("c1", "GET", "/items/<int:item_id>", 200)]
    assert item["request_count"] == 3
    assert sum(item["response_times"].values()) == 3 and all(int(k) % 10 == 0 for k in item["response_times"])
    assert item["request_sizes"] == {} and item["request_size_sum"] == 0
    assert item["response_size_sum"] == 3 * len(b'{"id":0}\n')
    echo = rows[(None, "POST", "/echo", 200)]
    assert echo["request_size_sum"] == echo["response_size_sum"] > 1500
    assert echo["request_sizes"] == {"1": 1}
    assert not [r for r in hub.requests() if r["status_code"] == 404]  # unmatched: not counted
    sync = hub.bodies("sync")[-1]
    assert set(sync) == {
        "instance_uuid",
        "message_uuid",
        "timestamp",
        "requests",
        "validation_errors",
        "server_errors",
        "consumers",
        "resources",
    }


def test_405_and_308_keep_their_status(hub: Any) -> None:
    app = make_app(hub.url)
    assert call(app, "POST", "/items/1")[0] == 405
    assert call(app, "GET", "/slash")[0] == 308
    flush(app)
    assert not [r for r in hub.requests() if r["status_code"] == 500]


def test_the_matched_rule_is_reported(hub: Any) -> None:
    app = make_app(hub.url)
    call(app, "GET", "/things/by-name/bob")
    call(app, "GET", "/things/7")
    flush(app)
    assert hub.count(path="/things/by-name/<name>") == 1
    assert hub.count(path="/things/<int:thing_id>") == 1


def test_streamed_response_is_timed_to_the_end_of_its_body_and_sized_by_bytes_sent(hub: Any) -> None:
    app = make_app(hub.url)
    assert call(app, "GET", "/stream") == (200, b"x" * 3000)
    flush(app)
    (row,) = [r for r in hub.requests() if r["path"] == "/stream"]
    assert row["response_size_sum"] == 3000 and row["response_sizes"] == {"3": 1}
    (bin_ms,) = row["response_times"]
    assert int(bin_ms) >= 50


def test_unhandled_exception_is_a_server_error(hub: Any) -> None:
    app = make_app(hub.url)
    assert call(app, "GET", "/boom", headers={"X-Consumer": "c9"})[0] == 500
    assert call(app, "GET", "/boom", headers={"X-Consumer": "c9"})[0] == 500
    flush(app)
    (error,) = [e for s in hub.bodies("sync") for e in s["server_errors"]]
    assert error["type"] == "builtins.ValueError" and error["msg"] == "kaboom"
    assert error["error_count"] == 2 and error["consumer"] == "c9" and error["path"] == "/boom"
    assert error["traceback"].startswith("Traceback") and error["traceback"].endswith("ValueError: kaboom")
    assert error["sentry_event_id"] is None


def test_exception_propagated_by_flask_is_still_recorded(hub: Any) -> None:
    app = make_app(hub.url)
    app.testing = True  # PROPAGATE_EXCEPTIONS: the exception leaves the WSGI app
    with pytest.raises(ValueError, match="kaboom"):
        call(app, "GET", "/boom", headers={"X-Consumer": "c3"})
    flush(app)
    assert hub.count(path="/boom", status_code=500, consumer="c3") == 1
    assert [e["type"] for s in hub.bodies("sync") for e in s["server_errors"]] == ["builtins.ValueError"]


def test_consumers_with_name_and_group(hub: Any) -> None:
    app = make_app(hub.url)
    call(app, "GET", "/named")
    call(app, "GET", "/named")
    call(app, "GET", "/object")
    call(app, "GET", "/items/1", headers={"X-Consumer": "   "})
    flush(app)
    consumers = [c for s in hub.bodies("sync") for c in s["consumers"]]
    assert {"identifier": "alice", "name": "Alice", "group": "Admins"} in consumers
    assert {"identifier": "x" * 128, "name": "n" * 64, "group": "G"} in consumers
    assert len(consumers) == 2  # sent once, not per request
    assert hub.count(consumer="alice") == 2
    assert hub.count(path="/items/<int:item_id>", consumer=None) == 1


def test_a_named_consumer_is_noted_as_strings_the_collector_stops_tracking(hub: Any) -> None:
    # Notes wait for the worker by the thousand: one holding an ApitallyConsumer object would stay
    # tracked by the garbage collector and make its full collections more frequent and longer.
    app = make_app(hub.url)
    call(app, "GET", "/named")
    call(app, "GET", "/named")
    noted = app.wsgi_app.client.requests.noted  # type: ignore[attr-defined]
    gc.collect()
    gc.collect()  # the consumer's tuple is untracked by the first pass, the note by the next
    assert len(noted) == 2 and not any(gc.is_tracked(note) for note in noted)
    assert noted[0] == noted[1]  # counted once, in bulk, by the worker
    flush(app)
    assert hub.count(consumer="alice") == 2
    assert [c for s in hub.bodies("sync") for c in s["consumers"]] == [
        {"identifier": "alice", "name": "Alice", "group": "Admins"}
    ]


def test_options_requests_are_not_counted(hub: Any) -> None:
    app = make_app(hub.url)
    call(app, "OPTIONS", "/items/1")
    flush(app)
    assert hub.requests() == []


@pytest.mark.parametrize(
    ("client_id", "env", "named"), [("not-a-uuid", "dev", "not-a-uuid"), (CLIENT_ID, "bad env!", "bad env!")]
)
def test_bad_settings_are_reported_once_and_requests_pass_through(
    hub: Any, caplog: pytest.LogCaptureFixture, client_id: str, env: str, named: str
) -> None:
    app = Flask(__name__)
    app.get("/")(lambda: "ok")
    with caplog.at_level(logging.ERROR, logger="apitally"):
        app.wsgi_app = ApitallyMiddleware(app, client_id=client_id, env=env, hub_url=hub.url)  # type: ignore[method-assign]
        assert call(app, "GET", "/") == (200, b"ok")
        assert call(app, "GET", "/") == (200, b"ok")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and repr(named) in errors[0]
    app.wsgi_app.client.shutdown(timeout=1)  # type: ignore[attr-defined]
    assert hub.calls == []


def test_several_middlewares_each_have_their_client(hub: Any) -> None:
    apps = [make_app(hub.url) for _ in range(3)]
    for app in apps:
        call(app, "GET", "/items/1")
    for app in apps:
        flush(app)
    assert len({s["instance_uuid"] for s in hub.bodies("sync")}) == 3
    assert hub.count(path="/items/<int:item_id>") == 3


def test_startup_payload(hub: Any) -> None:
    app = make_app(hub.url, app_version="1.2.3")
    app.get("/openapi.json")(lambda: {"openapi": "3.0.0"})
    app.wsgi_app.openapi_url = "/openapi.json"  # type: ignore[attr-defined]
    flush(app)
    (startup,) = hub.bodies("startup")
    assert startup["client"] == "python:flask"
    assert startup["versions"]["app"] == "1.2.3" and "flask" in startup["versions"]
    assert {"path": "/items/<int:item_id>", "method": "GET"} in startup["paths"]
    assert {"path": "/echo", "method": "POST"} in startup["paths"]
    assert not [p for p in startup["paths"] if p["method"] in ("HEAD", "OPTIONS") or "static" in p["path"]]
    assert '"openapi": "3.0.0"' in startup["openapi"] or '"openapi":"3.0.0"' in startup["openapi"]
    assert hub.requests() == []  # fetching the OpenAPI document is not API traffic


def test_hub_url_is_read_when_the_middleware_is_built(hub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APITALLY_HUB_BASE_URL", hub.url + "/")
    app = Flask(__name__)
    app.get("/")(lambda: "ok")
    app.wsgi_app = ApitallyMiddleware(app, client_id=CLIENT_ID, env="prod")  # type: ignore[method-assign]
    call(app, "GET", "/")
    flush(app)
    assert {c["path"] for c in hub.calls} >= {f"/v2/{CLIENT_ID}/prod/startup", f"/v2/{CLIENT_ID}/prod/sync"}


def test_legacy_consumer_identifier_still_works(hub: Any) -> None:
    app = make_app(hub.url)
    app.get("/legacy")(lambda: (setattr(g, "consumer_identifier", "old"), "ok")[1])
    with pytest.warns(DeprecationWarning, match="apitally_consumer"):
        call(app, "GET", "/legacy")
    flush(app)
    assert hub.count(consumer="old") == 1


def test_resources_are_sent_from_the_second_sync_on(hub: Any) -> None:
    app = make_app(hub.url)
    client = app.wsgi_app.client  # type: ignore[attr-defined]
    first, second = client.sync_payload(), client.sync_payload()
    assert first["resources"] is None
    assert isinstance(second["resources"]["cpu_percent"], float)
    assert second["resources"]["memory_rss"] > 10_000_000
