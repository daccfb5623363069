"""Request logging (PROTOCOL.md §2A.4): capture, masking, exclusions, spooling, upload and bounds."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from apitally import _wsgi
from apitally.client import request_log
from apitally.client.logging_config import RequestLoggingConfig
from apitally.flask import ApitallyMiddleware
from flask import Flask, request

CLIENT_ID = "8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11"
FULL = {
    "enable_request_logging": True,
    "log_request_headers": True,
    "log_request_body": True,
    "log_response_body": True,
}


def make_app(hub_url: str, **options: Any) -> Flask:
    app = Flask(__name__)

    @app.post("/login")
    def login() -> Any:
        return {"token": "t0p", "user": request.get_json()["user"]}

    app.get("/healthz", endpoint="healthz")(lambda: "ok")
    app.get("/items/<int:item_id>", endpoint="item")(lambda item_id: {"id": item_id})
    app.get("/big", endpoint="big")(lambda: {"data": "x" * 60_000})

    @app.get("/boom")
    def boom() -> str:
        raise KeyError("missing")

    app.wsgi_app = ApitallyMiddleware(app, client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)  # type: ignore[method-assign]
    return app


def send(app: Flask, method: str, url: str, **kwargs: Any) -> int:
    with app.test_client().open(url, method=method, **kwargs) as response:
        response.get_data()
        return response.status_code


def flush(app: Flask) -> None:
    app.wsgi_app.client.shutdown(timeout=5)  # type: ignore[attr-defined]


def body(part: dict[str, Any]) -> bytes:
    return base64.b64decode(part["body"])


def test_full_capture_with_default_masking(hub: Any) -> None:
    app = make_app(hub.url, **FULL)
    send(
        app,
        "POST",
        "/login?api_key=k1&page=2&token=t",
        json={"user": "bob", "password": "secret!"},
        headers={"Authorization": "Bearer abc", "X-Api-Key": "k2", "User-Agent": "test/1"},
    )
    flush(app)
    (line,) = hub.log_lines()
    req, resp = line["request"], line["response"]
    assert set(line) == {"uuid", "request", "response"}
    assert req["method"] == "POST" and req["path"] == "/login"
    assert req["url"] == "http://localhost/login?api_key=%2A%2A%2A%2A%2A%2A&page=2&token=%2A%2A%2A%2A%2A%2A"
    headers = dict(req["headers"])
    assert headers["Authorization"] == "******" and headers["X-Api-Key"] == "******"
    assert headers["User-Agent"] == "test/1"
    assert json.loads(body(req)) == {"user": "bob", "password": "******"}
    assert json.loads(body(resp)) == {"token": "******", "user": "bob"}
    assert resp["status_code"] == 200 and isinstance(resp["response_time"], float)
    assert req["size"] == len(b'{"user": "bob", "password": "secret!"}')
    assert ["Content-Type", "application/json"] in resp["headers"]
    assert isinstance(req["timestamp"], float)


def test_defaults_log_no_headers_or_bodies_and_exclusions_apply(hub: Any) -> None:
    app = make_app(hub.url, enable_request_logging=True, exclude_paths=[r"/big$"])
    send(app, "POST", "/login", json={"user": "bob"})
    send(app, "GET", "/healthz")
    send(app, "GET", "/big")
    send(app, "GET", "/items/1", headers={"User-Agent": "kube-probe/1.27"})
    send(app, "GET", "/unknown")
    flush(app)
    lines = hub.log_lines()
    assert [(line["request"]["method"], line["request"].get("path")) for line in lines] == [
        ("POST", "/login"),
        ("GET", None),  # unmatched URLs are logged, without a path
    ]
    assert "headers" not in lines[0]["request"] and "body" not in lines[0]["request"]
    assert "body" not in lines[0]["response"] and lines[0]["response"]["headers"]
    assert sum(r["request_count"] for s in hub.bodies("sync") for r in s["requests"]) == 4  # still counted


def test_user_patterns_and_callbacks(hub: Any) -> None:
    seen: list[dict[str, Any]] = []

    def mask_response(req: dict[str, Any], resp: dict[str, Any]) -> bytes | None:
        seen.append(req)
        return None

    app = make_app(
        hub.url,
        **FULL,
        mask_headers=["^x-private$"],
        mask_body_fields=["^user$"],
        mask_query_params=["page"],
        mask_request_body_callback=lambda req: req["body"].replace(b"bob", b"b*b"),
        mask_response_body_callback=mask_response,
        exclude_callback=lambda req, resp: req["method"] == "GET",
    )
    send(app, "POST", "/login?page=1", json={"user": "bob"}, headers={"X-Private": "p"})
    send(app, "GET", "/items/1")
    flush(app)
    (line,) = hub.log_lines()
    assert line["request"]["url"].endswith("?page=%2A%2A%2A%2A%2A%2A")
    assert ["X-Private", "******"] in line["request"]["headers"]
    assert json.loads(body(line["request"])) == {"user": "******"}
    assert body(line["response"]) == b"<masked>"
    assert seen and seen[0]["path"] == "/login"


def test_large_bodies_and_exceptions(hub: Any) -> None:
    app = make_app(hub.url, **FULL)
    send(app, "GET", "/big")
    send(app, "POST", "/login", data=b'{"user": "' + b"u" * 60_000 + b'"}', content_type="application/json")
    send(app, "GET", "/boom")
    flush(app)
    big, login, boom = hub.log_lines()
    assert body(big["response"]) == b"<body too large>"
    assert body(login["request"]) == b"<body too large>"
    assert boom["exception"]["type"] == "builtins.KeyError"
    assert boom["exception"]["message"] == "'missing'"
    assert boom["exception"]["traceback"].endswith("KeyError: 'missing'")


def test_no_request_is_lost_at_shutdown(hub: Any) -> None:
    app = make_app(hub.url, enable_request_logging=True)
    for i in range(500):
        send(app, "GET", f"/items/{i}")
    flush(app)  # at once, though the worker may have spooled and sent a part already (a slow machine)
    assert len(hub.log_lines()) == 500
    assert len({line["uuid"] for line in hub.log_lines()}) == 500
    log_calls = [c for c in hub.calls if c["kind"] == "log"]
    assert log_calls
    for call in log_calls:
        assert "Content-Type" not in call["headers"] and call["path"].split("uuid=")[1]


def test_buffer_is_bounded_by_bytes_and_drops_are_counted(hub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_log, "MAX_PENDING_BYTES", 20 * 1024)
    app = make_app(hub.url, enable_request_logging=True)
    logger = app.wsgi_app.client.request_logger  # type: ignore[attr-defined]
    app.wsgi_app.client._stop.set()  # type: ignore[attr-defined]  # keep the worker from spooling meanwhile
    for i in range(200):
        send(app, "GET", f"/items/{i}")
    assert logger.dropped > 0
    kept = 200 - logger.dropped
    app.wsgi_app.client._flush(time.monotonic() + 5)  # type: ignore[attr-defined]
    lines = hub.log_lines()
    assert len(lines) == kept and lines[-1]["request"]["url"].endswith("/items/199")  # the newest kept


def test_402_without_retry_after_is_an_ordinary_failure(hub: Any) -> None:
    hub.answers["log"] = lambda: (402, b"{}")
    app = make_app(hub.url, enable_request_logging=True)
    client = app.wsgi_app.client  # type: ignore[attr-defined]
    send(app, "GET", "/items/1")
    client._stop.set()
    client._cycle()
    assert client.request_logger.suspend_until is None  # no Retry-After: an ordinary failure, kept
    assert len(client.request_logger.files) == 1


def test_402_with_retry_after_suspends_logging_and_clears_the_buffer(hub: Any) -> None:
    app = make_app(hub.url, enable_request_logging=True)
    client = app.wsgi_app.client  # type: ignore[attr-defined]
    client._stop.set()
    send(app, "GET", "/items/1")
    client.request_logger.spool()
    client.request_logger.rotate()
    client.hub.post = lambda *a, **k: request_log_response(402, {"Retry-After": "60"})
    client._upload_logs(None, 10)
    assert client.request_logger.suspend_until is not None
    assert len(client.request_logger.files) == 0
    send(app, "GET", "/items/2")
    assert len(client.request_logger._pending) == 0  # suspended: not captured


def request_log_response(status: int, headers: dict[str, str]) -> Any:
    from apitally.client.transport import HubResponse

    return HubResponse(status, headers, b"{}")


def test_direct_json_lines_equal_the_dict_built_lines() -> None:
    """Without callbacks the worker writes JSON text directly; it must be the line the dicts give."""
    config = RequestLoggingConfig(
        enabled=True, log_request_headers=True, log_request_body=True, log_response_body=True
    )
    logger = request_log.RequestLogger(config, _wsgi.exchange_fields)
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/caf\xc3\xa9/a b",
        "QUERY_STRING": "api_key=k&page=2&q=%2A",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "example.com",
        "HTTP_USER_AGENT": 'agent "quoted" \\ é',
        "HTTP_AUTHORIZATION": "Bearer x",
        "HTTP_X_FORWARDED_PROTO": "https",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "40",
        "wsgi.url_scheme": "http",
    }
    items: list[Any] = [
        (
            100.25,
            environ,
            [("Content-Type", "application/json"), ("Set-Cookie", "s=1"), ("Content-Length", "12")],
            "/café/<name>",
            "consumer \u2603",
            b'{"user": "bob", "password": "secret!"}',
            "200 OK",
            0.0123,
            "12",
            b'{"token":"t"}',
            None,
            None,
        ),
        (
            7.5,
            {**environ, "QUERY_STRING": "", "HTTP_X_FORWARDED_PROTO": "http", "CONTENT_LENGTH": ""},
            [],
            None,
            None,
            None,
            "500 INTERNAL SERVER ERROR",
            1e-7,
            0,
            b"",
            ("builtins.KeyError", "'k'", "Traceback\n  \"x\"\nKeyError: 'k'"),
            (
                ((1.5, "app", "WARNING", 'said "hi" \u2603', "/app.py", 3),),
                [{"span_id": "a" * 16, "parent_span_id": None, "name": "view", "kind": "INTERNAL"}],
                "b" * 32,
            ),
        ),
        (
            1.0,
            {**environ, "PATH_INFO": "/healthz"},
            [],
            "/healthz",
            None,
            None,
            "200 OK",
            0.1,
            None,
            None,
            None,
            None,
        ),
        (2.0, environ, [], "/x", None, None, "200 OK", 0.1, None, None, None, ((), [], "c" * 32)),
    ]
    for item in items:
        start, env, response_headers, *rest = item
        raw = (tuple(env), tuple(env.values()), tuple(response_headers))  # as `_wsgi` captures it
        item = (start, raw, *rest)
        direct, built = logger._line(item, 1e9), logger._serialise(item, 1e9)
        if built is None:
            assert direct is None
            continue
        assert direct is not None
        direct_line, built_line = json.loads(direct), json.loads(built)
        assert direct_line.pop("uuid") != built_line.pop("uuid")
        assert direct_line == built_line
        assert direct.decode().split('"request":')[1] == built.decode().split('"request":')[1]  # same text


def test_the_core_logs_a_capture_of_any_integration() -> None:
    """The log reads captures only through `read_fields`: here one shaped as ASGI gives it."""
    config = RequestLoggingConfig(enabled=True, log_request_headers=True)
    logger = request_log.RequestLogger(config, lambda raw: raw)  # this capture is its fields already
    fields = (
        "GET",
        "https://example.com/items/1",
        "token=t&page=2",
        [("host", "example.com"), ("user-agent", "test/1"), ("authorization", "Bearer x")],
        None,
        None,
        "test/1",
        [("content-type", "application/json"), ("content-length", "12")],
    )
    item = (1.0, fields, "/items/{id}", "c1", None, 201, 0.5, "12", None, None, None)
    line = json.loads(logger._line(item, 1e9) or b"")
    assert line["request"] == {
        "timestamp": 1e9 + 1.0,
        "method": "GET",
        "path": "/items/{id}",
        "url": "https://example.com/items/1?token=%2A%2A%2A%2A%2A%2A&page=2",
        "headers": [["host", "example.com"], ["user-agent", "test/1"], ["authorization", "******"]],
        "consumer": "c1",
    }
    assert line["response"] == {
        "status_code": 201,
        "response_time": 0.5,
        "headers": [["content-type", "application/json"], ["content-length", "12"]],
        "size": 12,
    }
    assert json.loads(logger._serialise(item, 1e9) or b"")["request"] == line["request"]
