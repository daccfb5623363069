"""The Starlette and FastAPI middleware, driven in-process through the ASGI interface (Starlette's
TestClient runs the lifespan too), delivering to a recording hub."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from apitally.fastapi import ApitallyConsumer, ApitallyMiddleware, set_consumer
from apitally.starlette import ApitallyMiddleware as StarletteMiddleware
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from .conftest import CLIENT_ID, RecordingHub


class Item(BaseModel):
    name: str
    price: float


def make_fastapi(hub_url: str, **options: Any) -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/v1")

    @app.middleware("http")
    async def identify(request: Request, call_next: Any) -> Any:
        if consumer := request.headers.get("X-Consumer"):
            request.state.apitally_consumer = consumer
        return await call_next(request)

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, Any]:
        return {"id": item_id}

    @app.post("/items")
    async def create_item(item: Item) -> dict[str, Any]:
        return item.model_dump()

    @app.get("/named")
    async def named(request: Request) -> dict[str, str]:
        set_consumer(request, "user-1", name="Alice", group="Admins")
        return {"ok": "yes"}

    @app.get("/boom")
    async def boom() -> dict[str, str]:
        raise ValueError("kaboom")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(3):
                await asyncio.sleep(0.02)
                yield b"x" * 100_000

        return StreamingResponse(chunks(), media_type="application/json")

    @app.get("/never-called")
    async def never_called() -> dict[str, str]:
        return {}

    @router.get("/users/{user_id}")
    async def get_user(user_id: str) -> dict[str, str]:
        return {"id": user_id}

    app.include_router(router)
    app.add_middleware(ApitallyMiddleware, client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)
    return app


def make_starlette(hub_url: str, **options: Any) -> Starlette:
    async def item(request: Request) -> JSONResponse:
        set_consumer(request, "user-9", group="Partners")
        return JSONResponse({"id": request.path_params["item_id"]})

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/items/{item_id:int}", item),
            Mount("/api", routes=[Route("/health", health, methods=["GET", "POST"])]),
        ]
    )
    app.add_middleware(StarletteMiddleware, client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)
    return app


def _client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def test_fastapi_counts_templates_consumers_errors(hub: RecordingHub) -> None:
    app = make_fastapi(hub.url)
    with _client(app) as client:
        # the startup payload was accepted before the lifespan startup completed
        startup = hub.bodies("startup")
        assert len(startup) == 1
        paths = {(p["method"], p["path"]) for p in startup[0]["paths"]}
        expected = {("get", "/items/{item_id}"), ("get", "/never-called"), ("get", "/v1/users/{user_id}")}
        assert expected <= paths
        assert ("post", "/items") in paths
        assert '"/never-called"' in startup[0]["openapi"]
        assert startup[0]["client"] == "python:starlette"
        assert "fastapi" in startup[0]["versions"] and "starlette" in startup[0]["versions"]
        for i in range(3):
            assert client.get(f"/items/{i}", headers={"X-Consumer": "c-1"}).json() == {"id": i}
        assert client.get("/v1/users/abc").status_code == 200
        assert client.get("/named").status_code == 200
        assert client.get("/boom").status_code == 500
        bad = client.post("/items", json={"name": "x", "price": "secret-value"})
        assert bad.status_code == 422
        assert client.get("/items/not-an-int").status_code == 422
        assert client.get("/nowhere").status_code == 404
        assert len(client.get("/stream").content) == 300_000
    # the lifespan shutdown flushed everything
    assert hub.count(path="/items/{item_id}", status_code=200, consumer="c-1", method="GET") == 3
    assert hub.count(path="/v1/users/{user_id}", status_code=200) == 1
    assert hub.count(path="/named", consumer="user-1") == 1
    assert hub.count(path="/boom", status_code=500) == 1
    assert hub.count(path="/items", method="POST", status_code=422) == 1
    assert hub.count(path="/items/{item_id}", status_code=422) == 1
    assert hub.count(path="/nowhere") == 0 and all("nowhere" not in r["path"] for r in hub.requests())
    stream = [r for r in hub.requests() if r["path"] == "/stream"]
    assert stream[0]["response_size_sum"] == 300_000
    assert stream[0]["response_times"] and min(map(int, stream[0]["response_times"])) >= 50
    syncs = hub.bodies("sync")
    consumers = [c for s in syncs for c in s["consumers"]]
    assert {"identifier": "user-1", "name": "Alice", "group": "Admins"} in consumers
    errors = [e for s in syncs for e in s["server_errors"]]
    assert len(errors) == 1 and errors[0]["type"] == "builtins.ValueError" and errors[0]["msg"] == "kaboom"
    assert errors[0]["path"] == "/boom" and "Traceback" in errors[0]["traceback"]
    assert "raise ValueError" in errors[0]["traceback"]
    validation = {
        (e["method"], e["path"], tuple(e["loc"]), e["type"]): e for s in syncs for e in s["validation_errors"]
    }
    assert set(validation) == {
        ("POST", "/items", ("body", "price"), "float_parsing"),
        ("GET", "/items/{item_id}", ("path", "item_id"), "int_parsing"),
    }
    assert all(e["error_count"] == 1 and e["msg"] for e in validation.values())
    assert "secret-value" not in str(syncs)


def test_starlette_mounts_partial_matches_and_state_consumer(hub: RecordingHub) -> None:
    app = make_starlette(hub.url)
    with _client(app) as client:
        paths = {(p["method"], p["path"]) for p in hub.bodies("startup")[0]["paths"]}
        assert paths == {("get", "/items/{item_id}"), ("get", "/api/health"), ("post", "/api/health")}
        assert "openapi" not in hub.bodies("startup")[0]  # a Starlette app without a document
        assert client.get("/items/5").json() == {"id": 5}
        assert client.get("/api/health").text == "ok"
        assert client.delete("/api/health").status_code == 405
        assert client.get("/items/x").status_code == 404
    assert hub.count(path="/items/{item_id:int}", consumer="user-9", status_code=200) == 1
    assert hub.count(path="/api/health", method="GET", status_code=200) == 1
    assert hub.count(status_code=405) == 0 and hub.count(status_code=404) == 0
    consumers = [c for s in hub.bodies("sync") for c in s["consumers"]]
    assert consumers == [{"identifier": "user-9", "name": None, "group": "Partners"}]


def test_consumer_callback_and_long_identifiers(hub: RecordingHub) -> None:
    def callback(request: Request) -> ApitallyConsumer:
        return ApitallyConsumer("k" * 300, name="Key", group="G")

    app = make_fastapi(hub.url, consumer_callback=callback)
    with _client(app) as client:
        client.get("/items/1")
    assert hub.count(consumer="k" * 128, path="/items/{item_id}") == 1


def test_request_log_with_bodies_and_streaming_bounded(hub: RecordingHub) -> None:
    app = make_fastapi(
        hub.url,
        enable_request_logging=True,
        log_request_headers=True,
        log_request_body=True,
        log_response_body=True,
    )
    with _client(app) as client:
        client.post("/items?x=1", json={"name": "a", "price": 1.5}, headers={"Authorization": "Bearer t"})
        client.get("/stream")
        client.get("/boom")
    lines = {line["request"]["path"]: line for line in hub.log_lines()}
    created = lines["/items"]
    assert created["request"]["method"] == "POST"
    assert created["request"]["url"] == "http://testserver/items?x=1"
    headers = dict(created["request"]["headers"])
    assert headers["authorization"] == "******"
    assert json.loads(base64.b64decode(created["request"]["body"])) == {"name": "a", "price": 1.5}
    assert json.loads(base64.b64decode(created["response"]["body"])) == {"name": "a", "price": 1.5}
    assert created["response"]["status_code"] == 200
    streamed = lines["/stream"]
    assert base64.b64decode(streamed["response"]["body"]) == b"<body too large>"
    assert streamed["response"]["size"] == 300_000
    boom = lines["/boom"]
    assert boom["response"]["status_code"] == 500 and boom["exception"]["type"] == "builtins.ValueError"


def test_gzipped_validation_errors_and_httpx_asgi_transport(hub: RecordingHub) -> None:
    from starlette.middleware.gzip import GZipMiddleware

    app = make_fastapi(hub.url)
    app.add_middleware(GZipMiddleware, minimum_size=1)  # outside ours: ours sees the plain body

    async def drive() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/items/zz", headers={"Accept-Encoding": "gzip"})
            assert response.status_code == 422

    asyncio.run(drive())  # no lifespan: the worker starts with the first request
    app_mw = _middleware(app)
    app_mw.client.shutdown(timeout=2.0)
    errors = [e for s in hub.bodies("sync") for e in s["validation_errors"]]
    assert [(e["loc"], e["type"]) for e in errors] == [(["path", "item_id"], "int_parsing")]
    assert hub.bodies("startup")  # sent by the worker, not by a lifespan


def _middleware(app: Any) -> Any:
    layer = app.middleware_stack
    while not isinstance(layer, StarletteMiddleware):
        layer = layer.app
    return layer


def test_bad_client_id_passes_through(hub: RecordingHub) -> None:
    app = FastAPI()

    @app.get("/x")
    async def x() -> dict[str, str]:
        return {"a": "b"}

    app.add_middleware(ApitallyMiddleware, client_id="not-a-uuid", hub_url=hub.url)
    with _client(app) as client:
        assert client.get("/x").json() == {"a": "b"}
    assert hub.calls == []


@pytest.mark.parametrize("fault_at", ["route_of", "consumer_of"])
def test_a_client_fault_never_reaches_the_app(
    hub: RecordingHub, monkeypatch: pytest.MonkeyPatch, fault_at: str
) -> None:
    from apitally.client import guard

    monkeypatch.setattr(guard, "STRICT", False)
    app = make_fastapi(hub.url)

    def broken(self: Any, scope: Any) -> Any:
        raise RuntimeError("client bug")

    monkeypatch.setattr(StarletteMiddleware, fault_at, broken)
    with _client(app) as client:
        response = client.get("/items/3")
        assert response.status_code == 200 and response.json() == {"id": 3}
        assert client.get("/stream").content == b"x" * 300_000


@pytest.mark.parametrize("capture", [True, False])
def test_capture_client_disconnects_records_499(hub: RecordingHub, capture: bool) -> None:
    async def check(request: Request) -> PlainTextResponse:
        return PlainTextResponse("gone" if await request.is_disconnected() else "here")

    app = Starlette(routes=[Route("/check", check)])
    app.add_middleware(
        StarletteMiddleware, client_id=CLIENT_ID, hub_url=hub.url, capture_client_disconnects=capture
    )

    async def drive() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}  # the client went away

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/check",
            "headers": [(b"host", b"t")],
            "query_string": b"",
            "scheme": "http",
            "server": ("t", 80),
            "root_path": "",
        }
        await app(scope, receive, send)
        return sent

    sent = asyncio.run(drive())
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"gone"  # the response is the app's
    _middleware(app).client.shutdown(timeout=2.0)
    assert hub.count(path="/check", status_code=499 if capture else 200) == 1


def test_a_failed_request_leaves_no_reference_cycle(hub: RecordingHub) -> None:
    # The exception's traceback holds the frames that hold the request's exchange: were the
    # exchange to keep the exception, each failed request would be a reference cycle (its frames,
    # scope and request objects with it), freed only by the garbage collector.
    from apitally import _asgi

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("kaboom")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    middleware = StarletteMiddleware(app, client_id=CLIENT_ID, env="dev", hub_url=hub.url)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    gc.collect()
    gc.disable()
    try:
        try:
            middleware(scope, receive, send).send(None)  # the app raises before any suspension
        except ValueError:
            pass
        else:
            pytest.fail("the app's exception did not reach the server")
        left = [o for o in gc.get_objects() if type(o) is _asgi._Exchange]
    finally:
        gc.enable()
        middleware.client.shutdown()
    assert left == []


def test_response_header_names_in_any_case(hub: RecordingHub) -> None:
    # ASGI apps should send lower-cased header names; one that does not is measured all the same.
    class Raw:  # an ASGI endpoint (Starlette calls a plain function with a request)
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"Content-Type", b"application/json"), (b"CONTENT-LENGTH", b"11")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"a": "bb"}'})

    app = Starlette(routes=[Route("/raw", Raw())])
    app.add_middleware(
        StarletteMiddleware,
        client_id=CLIENT_ID,
        env="dev",
        hub_url=hub.url,
        enable_request_logging=True,
        log_response_body=True,
    )
    with _client(app) as client:
        assert client.get("/raw").json() == {"a": "bb"}
    (row,) = [r for r in hub.requests() if r["path"] == "/raw"]
    assert row["response_size_sum"] == 11
    (line,) = hub.log_lines()
    # the body is logged: its Content-Type (spelt `Content-Type`) was read as JSON
    assert base64.b64decode(line["response"]["body"]) == b'{"a": "bb"}' and line["response"]["size"] == 11
