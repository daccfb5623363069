"""capture_logs and capture_traces (PROTOCOL.md §2A.4): the app's log records and spans of a request,
in its request-log line, for Flask, FastAPI/Starlette and Litestar, delivered to a recording hub."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from apitally.client import app_logs
from apitally.client.app_logs import MAX_CHARS, MAX_MESSAGE, MAX_RECORDS, LogBuffer
from apitally.fastapi import ApitallyMiddleware as FastAPIMiddleware
from apitally.flask import ApitallyMiddleware as FlaskMiddleware
from apitally.litestar import ApitallyPlugin
from apitally.starlette import ApitallyMiddleware as StarletteMiddleware
from fastapi import FastAPI
from flask import Flask
from litestar import Litestar, get
from litestar.logging.config import LoggingConfig
from litestar.params import FromPath
from litestar.testing import TestClient as LitestarClient
from loguru import logger as loguru_logger
from opentelemetry import trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from .conftest import CLIENT_ID, RecordingHub

CAPTURE = {"enable_request_logging": True, "capture_logs": True, "capture_traces": True}
log = logging.getLogger("shop.orders")
tracer = trace.get_tracer("shop")
LONG = "x" * 5000


class ListHandler(logging.Handler):
    """The app's own handler: it must keep receiving every record."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def line_of(func: Any, text: str) -> int:
    """The line number of the source line of `func` that contains `text`."""
    lines, first = inspect.getsourcelines(func)
    return first + next(i for i, line in enumerate(lines) if text in line)


def order_view(order_id: int) -> dict[str, Any]:
    """The handler shared by the Flask and FastAPI apps: two records, a loguru one, a child span."""
    log.warning("order %s looked up", order_id)
    log.info("not captured: below the root logger's level")
    loguru_logger.error("loguru says {}", order_id)
    with tracer.start_as_current_span("db.query", kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("db.statement", "SELECT 1")
        span.set_status(trace.StatusCode.ERROR)
        log.error(LONG)
    current = trace.get_current_span().get_span_context()
    return {"trace_id": format(current.trace_id, "032x"), "span_id": format(current.span_id, "016x")}


def flask_app(hub_url: str, **options: Any) -> Flask:
    app = Flask(__name__)

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> Any:
        return order_view(order_id)

    @app.get("/quiet")
    def quiet() -> str:
        return "ok"

    @app.get("/many")
    def many() -> str:
        for i in range(MAX_RECORDS + 5):
            log.warning("record %d", i)
        return "ok"

    app.wsgi_app = FlaskMiddleware(app, client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)  # type: ignore[method-assign]
    return app


def fastapi_app(hub_url: str, **options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, Any]:
        return order_view(order_id)

    app.add_middleware(FastAPIMiddleware, client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)
    return app


def lines_of(hub: RecordingHub, flush: Any) -> list[dict[str, Any]]:
    flush()
    return hub.log_lines()


def check_order_line(line: dict[str, Any], answer: dict[str, str], view_name: str) -> None:
    here = __file__
    assert [(r["logger"], r["level"], r["message"], r["file"], r["line"]) for r in line["logs"]] == [
        ("shop.orders", "WARNING", "order 7 looked up", here, line_of(order_view, "looked up")),
        (__name__, "ERROR", "loguru says 7", here, line_of(order_view, "loguru says")),
        (
            "shop.orders",
            "ERROR",
            "x" * (MAX_MESSAGE - 15) + "... (truncated)",
            here,
            line_of(order_view, "LONG)"),
        ),
    ]
    assert all(isinstance(r["timestamp"], float) for r in line["logs"])
    assert len(line["logs"][2]["message"]) == MAX_MESSAGE
    assert line["trace_id"] == answer["trace_id"]
    spans = {span["span_id"]: span for span in line["spans"]}
    (root,) = [span for span in spans.values() if span["name"] == view_name]  # the client's own
    assert root["kind"] == "INTERNAL" and root["parent_span_id"] not in spans  # the client's root span
    (child,) = [span for span in spans.values() if span["name"] == "db.query"]
    assert child == {
        "span_id": child["span_id"],
        "parent_span_id": answer["span_id"],  # the span current in the view
        "name": "db.query",
        "kind": "CLIENT",
        "start_time": child["start_time"],
        "end_time": child["end_time"],
        "status": "ERROR",
        "attributes": {"db.statement": "SELECT 1"},
    }
    for span in spans.values():  # every span kept descends from the root (FastAPI makes some of its own)
        ancestor = span
        while ancestor is not root:
            ancestor = spans[ancestor["parent_span_id"]]
        assert root["start_time"] <= span["start_time"] <= span["end_time"] <= root["end_time"]
    assert len(child["span_id"]) == 16 and len(line["trace_id"]) == 32


@pytest.fixture
def app_handler() -> Any:
    handler = ListHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def test_flask_request_carries_its_logs_and_spans(hub: RecordingHub, app_handler: ListHandler) -> None:
    app = flask_app(hub.url, **CAPTURE)
    with app.test_client() as client:
        answer = client.get("/orders/7").get_json()
        client.get("/quiet")
    log.warning("outside any request")  # ignored by the capture, not by the app's handler
    line, quiet = lines_of(hub, lambda: app.wsgi_app.client.shutdown(timeout=5))  # type: ignore[attr-defined]
    check_order_line(line, answer, "get_order")
    assert [s["name"] for s in line["spans"]] == ["db.query", "get_order"]  # Flask makes no spans of its own
    assert line["spans"][1]["parent_span_id"] is None
    assert "logs" not in quiet and [s["name"] for s in quiet["spans"]] == ["quiet"]
    assert app_handler.messages[:2] == ["order 7 looked up", LONG]  # the app's handler got them whole
    assert app_handler.messages[-1] == "outside any request"
    assert app_handler in logging.getLogger().handlers


def test_fastapi_request_carries_its_logs_and_spans(hub: RecordingHub) -> None:
    app = fastapi_app(hub.url, **CAPTURE)
    with TestClient(app) as client:
        answer = client.get("/orders/7").json()
    [line] = hub.log_lines()
    check_order_line(line, answer, "root")  # FastAPI's own span is its parent: not renamed, as the official


def test_starlette_request_carries_its_logs_and_spans(hub: RecordingHub) -> None:
    async def get_order(request: Request) -> JSONResponse:
        return JSONResponse(order_view(int(request.path_params["order_id"])))

    app = Starlette(routes=[Route("/orders/{order_id:int}", get_order)])
    app.add_middleware(StarletteMiddleware, client_id=CLIENT_ID, env="dev", hub_url=hub.url, **CAPTURE)
    with TestClient(app) as client:
        answer = client.get("/orders/7").json()
    [line] = hub.log_lines()
    check_order_line(line, answer, "get_order")  # no span around the middleware: renamed
    assert [s["name"] for s in line["spans"]] == ["db.query", "get_order"]


def test_litestar_request_carries_its_logs_and_spans(hub: RecordingHub) -> None:
    @get("/orders/{order_id:int}")
    async def get_order(order_id: FromPath[int]) -> dict[str, Any]:
        return order_view(order_id)

    plugin = ApitallyPlugin(client_id=CLIENT_ID, env="dev", hub_url=hub.url, **CAPTURE)
    # Litestar sets up logging after the plugin was made: the root logger's handlers are replaced.
    logging_config = LoggingConfig(root={"handlers": ["queue_listener"], "level": "WARNING"})
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with LitestarClient(Litestar([get_order], plugins=[plugin], logging_config=logging_config)) as client:
            answer = client.get("/orders/7").json()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    [line] = hub.log_lines()
    check_order_line(line, answer, "get_order")  # the root span named after the handler, as the official
    assert [s["name"] for s in line["spans"]] == ["db.query", "get_order"]


def test_the_records_of_one_request_are_bounded(hub: RecordingHub) -> None:
    app = flask_app(hub.url, **CAPTURE)
    with app.test_client() as client:
        client.get("/many")
    [line] = lines_of(hub, lambda: app.wsgi_app.client.shutdown(timeout=5))  # type: ignore[attr-defined]
    assert [r["message"] for r in line["logs"]] == [f"record {i}" for i in range(MAX_RECORDS)]


def test_a_buffer_keeps_at_most_its_characters() -> None:
    buffer = LogBuffer()
    for _ in range(400):
        buffer.add(1.0, "n", "INFO", "m" * MAX_MESSAGE, "/f.py", 1)
    kept = len(buffer.entries)
    assert kept == MAX_CHARS // (MAX_MESSAGE + 1 + 5) and buffer.dropped == 400 - kept
    assert buffer.chars <= MAX_CHARS


def test_options_off_capture_nothing(hub: RecordingHub) -> None:
    app = flask_app(hub.url, enable_request_logging=True)
    with app.test_client() as client:
        client.get("/orders/7")
    [line] = lines_of(hub, lambda: app.wsgi_app.client.shutdown(timeout=5))  # type: ignore[attr-defined]
    assert not {"logs", "spans", "trace_id"} & set(line)


def test_capture_logs_alone_sends_no_spans(hub: RecordingHub) -> None:
    app = flask_app(hub.url, enable_request_logging=True, capture_logs=True)
    with app.test_client() as client:
        client.get("/orders/7")
    [line] = lines_of(hub, lambda: app.wsgi_app.client.shutdown(timeout=5))  # type: ignore[attr-defined]
    assert len(line["logs"]) == 3 and not {"spans", "trace_id"} & set(line)


def test_the_capture_handler_is_added_once_and_ignores_records_outside_requests() -> None:
    app_logs.install()
    app_logs.install()
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, app_logs.CaptureHandler)]
    assert len(handlers) == 1
    assert handlers[0].handle(logging.makeLogRecord({"msg": "outside"})) is False


def test_without_opentelemetry_one_warning_and_logs_still_captured(
    hub: RecordingHub, subprocess_env: dict[str, str]
) -> None:
    script = textwrap.dedent(
        """
        import json, logging, sys
        sys.modules["opentelemetry"] = None  # as if not installed
        from flask import Flask
        from apitally.flask import ApitallyMiddleware
        warnings = []
        class Warnings(logging.Handler):
            def emit(self, record):
                warnings.append(record.getMessage())
        logging.getLogger("apitally").addHandler(Warnings())
        app = Flask("t")
        app.get("/")(lambda: logging.getLogger("t").warning("hi") or "ok")
        options = dict(enable_request_logging=True, capture_logs=True, capture_traces=True)
        for _ in range(2):
            mw = ApitallyMiddleware(app, client_id=sys.argv[1], env="dev", **options)
        app.wsgi_app = mw
        app.test_client().get("/")
        mw.client.shutdown(timeout=5)
        print(json.dumps(warnings))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, CLIENT_ID],
        env=subprocess_env,
        capture_output=True,
        text=True,
        check=True,
    )
    warnings = json.loads(out.stdout.splitlines()[-1])
    assert len(warnings) == 1 and "opentelemetry-api and opentelemetry-sdk" in warnings[0], warnings
    [line] = hub.log_lines()
    assert [r["message"] for r in line["logs"]] == ["hi"] and not {"spans", "trace_id"} & set(line)
