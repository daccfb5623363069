"""The BlackSheep integration, driven in-process through the app's ASGI interface (Starlette's
TestClient, which runs the lifespan too; BlackSheep's own test client calls the app's handler and
skips the ASGI layer the client measures), delivering to a recording hub."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from apitally.blacksheep import ApitallyConsumer, use_apitally
from blacksheep import Application, FromJSON, Request, Response, StreamedContent
from blacksheep import json as json_response
from blacksheep.server.authentication import AuthenticationHandler
from blacksheep.server.controllers import Controller
from blacksheep.server.routing import Router
from guardpost import Identity
from pydantic import BaseModel
from starlette.testclient import TestClient

from .conftest import CLIENT_ID, RecordingHub


class Item(BaseModel):
    name: str
    price: float


class HeaderConsumer(AuthenticationHandler):
    """The consumer as an identity claim, the way an app's authentication handler sets it."""

    async def authenticate(self, context: Request) -> Identity | None:
        if consumer := context.get_first_header(b"X-Consumer"):
            context.user = Identity({"apitally_consumer": consumer.decode()}, "header")
        return context.user


def make_app(hub_url: str, **options: Any) -> Application:
    v1 = Router(prefix="/v1")

    @v1.get("/orders/{order_id}")
    async def get_order(order_id: str) -> Response:
        return json_response({"id": order_id})

    app = Application(router=Router(sub_routers=[v1]))
    controllers = app.controllers_router
    app.use_authentication().add(HeaderConsumer())

    @app.router.get("/items/{item_id}")
    async def get_item(item_id: int) -> Response:
        """Get an item."""
        return json_response({"id": item_id})

    @app.router.post("/items")
    async def create_item(data: FromJSON[Item]) -> Response:
        return json_response(data.value.model_dump(), status=201)

    @app.router.get("/named")
    async def named(request: Request) -> Response:
        # A handler may set the identity itself.
        request.user = Identity(
            {"apitally_consumer": ApitallyConsumer("user-1", name="Alice", group="Admins")}, "handler"
        )
        return json_response({"ok": "yes"})

    @app.router.get("/boom")
    async def boom() -> Response:
        raise ValueError("kaboom")

    @app.router.get("/logs")
    async def logs() -> Response:
        logging.getLogger("app.orders").warning("order %s looked up", 7)
        return json_response({"ok": True})

    @app.router.get("/stream")
    async def stream() -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(3):
                yield b"x" * 100_000

        return Response(200, content=StreamedContent(b"application/json", chunks))

    @app.router.get("/never-called")
    async def never_called() -> Response:
        return json_response({})

    class Users(Controller):
        @classmethod
        def route(cls) -> str:
            return "/users"

        @controllers.get("/{user_id}")
        async def get_user(self, user_id: str) -> Response:
            return json_response({"id": user_id})

    use_apitally(app, client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)
    return app


def _client(app: Application) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def test_counts_templates_consumers_and_errors(hub: RecordingHub) -> None:
    app = make_app(hub.url)
    with _client(app) as client:
        # the startup payload was accepted before the lifespan startup completed, with the routes of
        # routers and controllers (registered while the app starts)
        (startup,) = hub.bodies("startup")
        paths = {(p["method"], p["path"]) for p in startup["paths"]}
        assert paths == {
            ("GET", "/items/{item_id}"),
            ("POST", "/items"),
            ("GET", "/named"),
            ("GET", "/boom"),
            ("GET", "/logs"),
            ("GET", "/stream"),
            ("GET", "/never-called"),
            ("GET", "/v1/orders/{order_id}"),
            ("GET", "/users/{user_id}"),
        }
        assert {"method": "GET", "path": "/items/{item_id}", "summary": "Get an item."} in [
            {k: v for k, v in p.items() if k != "description"} for p in startup["paths"]
        ]
        assert startup["client"] == "python:blacksheep" and "blacksheep" in startup["versions"]
        assert "openapi" not in startup  # as the official client: BlackSheep's document is not sent
        for i in range(3):
            assert client.get(f"/items/{i}", headers={"X-Consumer": "c-1"}).json() == {"id": i}
        assert client.get("/v1/orders/o-9").json() == {"id": "o-9"}
        assert client.get("/users/abc").json() == {"id": "abc"}
        assert client.get("/named").status_code == 200
        boom = client.get("/boom")
        assert boom.status_code == 500 and boom.text == "Internal Server Error"  # BlackSheep's own answer
        assert client.post("/items", json={"name": "x", "price": "secret-value"}).status_code == 400
        assert client.get("/items/not-an-int").status_code == 400
        assert client.get("/nowhere").status_code == 404
        assert len(client.get("/stream").content) == 300_000
        assert client.options("/items/1").status_code in (204, 404, 405)  # not counted
    # the lifespan shutdown flushed everything
    assert hub.count(path="/items/{item_id}", status_code=200, consumer="c-1", method="GET") == 3
    assert hub.count(path="/v1/orders/{order_id}", status_code=200) == 1
    assert hub.count(path="/users/{user_id}", status_code=200) == 1
    assert hub.count(path="/named", consumer="user-1") == 1
    assert hub.count(path="/boom", status_code=500) == 1
    assert hub.count(path="/items", method="POST", status_code=400) == 1
    assert hub.count(path="/items/{item_id}", status_code=400) == 1
    assert all(r["path"] != "*" and "nowhere" not in r["path"] for r in hub.requests())
    assert not [r for r in hub.requests() if r["method"] == "OPTIONS"]
    (streamed,) = [r for r in hub.requests() if r["path"] == "/stream"]
    assert streamed["response_size_sum"] == 300_000
    (boomed,) = [r for r in hub.requests() if r["path"] == "/boom"]
    assert boomed["response_size_sum"] == len(b"Internal Server Error")
    syncs = hub.bodies("sync")
    consumers = [c for s in syncs for c in s["consumers"]]
    assert {"identifier": "user-1", "name": "Alice", "group": "Admins"} in consumers
    errors = [e for s in syncs for e in s["server_errors"]]
    assert len(errors) == 1 and errors[0]["type"] == "builtins.ValueError" and errors[0]["msg"] == "kaboom"
    assert errors[0]["path"] == "/boom" and "raise ValueError" in errors[0]["traceback"]
    assert [e for s in syncs for e in s["validation_errors"]] == []  # as the official client
    assert "secret-value" not in str(syncs)


def test_consumer_callback_and_long_identifiers(hub: RecordingHub) -> None:
    def callback(request: Request) -> ApitallyConsumer:
        group = request.get_first_header(b"X-Group")
        return ApitallyConsumer("k" * 300, name="Key", group=group.decode() if group else None)

    app = make_app(hub.url, consumer_callback=callback)
    with _client(app) as client:
        client.get("/v1/orders/x", headers={"X-Group": "G"})
        client.get("/items/1", headers={"X-Consumer": "claimed"})  # the identity's claim comes first
    assert hub.count(consumer="k" * 128, path="/v1/orders/{order_id}") == 1
    assert hub.count(consumer="claimed", path="/items/{item_id}") == 1
    consumers = [c for s in hub.bodies("sync") for c in s["consumers"]]
    assert consumers == [{"identifier": "k" * 128, "name": "Key", "group": "G"}]


def test_request_log_with_bodies_masking_exclusions_and_streaming_bounded(hub: RecordingHub) -> None:
    app = make_app(
        hub.url,
        enable_request_logging=True,
        log_request_headers=True,
        log_request_body=True,
        log_response_body=True,
        mask_body_fields=["name"],
        exclude_paths=["/never"],
    )
    with _client(app) as client:
        client.post(
            "/items?x=1&token=abc", json={"name": "a", "price": 1.5}, headers={"Authorization": "Bearer t"}
        )
        client.get("/stream")
        client.get("/boom")
        client.get("/never-called")  # excluded
        client.get("/nowhere")
    lines = {
        line["request"]["url"].split("?")[0].removeprefix("http://testserver"): line
        for line in hub.log_lines()
    }
    assert set(lines) == {"/items", "/stream", "/boom", "/nowhere"}
    created = lines["/items"]
    assert created["request"]["method"] == "POST" and created["request"]["path"] == "/items"
    assert created["request"]["url"] == "http://testserver/items?x=1&token=%2A%2A%2A%2A%2A%2A"
    assert dict(created["request"]["headers"])["authorization"] == "******"
    assert json.loads(base64.b64decode(created["request"]["body"])) == {"name": "******", "price": 1.5}
    assert json.loads(base64.b64decode(created["response"]["body"])) == {"name": "******", "price": 1.5}
    assert created["response"]["status_code"] == 201
    streamed = lines["/stream"]
    assert base64.b64decode(streamed["response"]["body"]) == b"<body too large>"
    assert streamed["response"]["size"] == 300_000
    failed = lines["/boom"]
    assert failed["response"]["status_code"] == 500 and failed["exception"]["type"] == "builtins.ValueError"
    assert "raise ValueError" in failed["exception"]["traceback"]
    unrouted = lines["/nowhere"]
    assert unrouted["response"]["status_code"] == 404 and "path" not in unrouted["request"]


def test_capture_logs_and_traces(hub: RecordingHub) -> None:
    app = make_app(hub.url, enable_request_logging=True, capture_logs=True, capture_traces=True)
    with _client(app) as client:
        assert client.get("/logs").json() == {"ok": True}
    (line,) = hub.log_lines()
    assert [(r["logger"], r["message"]) for r in line["logs"]] == [("app.orders", "order 7 looked up")]
    assert len(line["trace_id"]) == 32
    assert [s["name"] for s in line["spans"]] == ["logs"]  # the root span, named after the handler


def test_bad_client_id_passes_through(hub: RecordingHub) -> None:
    app = Application()

    @app.router.get("/items/{item_id}")
    async def get_item(item_id: int) -> Response:
        return json_response({"id": item_id})

    use_apitally(app, client_id="not-a-uuid", hub_url=hub.url)
    with _client(app) as client:
        assert client.get("/items/4").json() == {"id": 4}
    assert hub.calls == []


@pytest.mark.parametrize("fault_at", ["route_of", "consumer_of", "handled_exception_of"])
def test_a_client_fault_never_reaches_the_app(
    hub: RecordingHub, monkeypatch: pytest.MonkeyPatch, fault_at: str
) -> None:
    from apitally import blacksheep
    from apitally.client import guard

    monkeypatch.setattr(guard, "STRICT", False)
    app = make_app(hub.url)

    def broken(self: Any, scope: Any) -> Any:
        raise RuntimeError("client bug")

    monkeypatch.setattr(blacksheep._BlackSheepMiddleware, fault_at, broken)
    with _client(app) as client:
        response = client.get("/items/3")
        assert response.status_code == 200 and response.json() == {"id": 3}
        assert client.get("/stream").content == b"x" * 300_000
        assert client.get("/boom").status_code == 500


def test_no_middleware_of_ours_and_an_outer_middlewares_exception_is_a_server_error(
    hub: RecordingHub,
) -> None:
    # The exception is kept where BlackSheep answers every exception of a route's handler and its
    # middlewares, not by a middleware of ours: the app's own middleware list is left as it was,
    # and a middleware that runs before the others (here, registered first) is seen as well.
    app = Application(router=Router())

    async def gatekeeper(request: Request, handler: Any) -> Response:
        if request.path == "/gate":
            raise RuntimeError("gate closed")
        return await handler(request)

    app.middlewares.append(gatekeeper)

    @app.router.get("/gate")
    async def gate() -> Response:
        return json_response({"ok": True})

    use_apitally(app, client_id=CLIENT_ID, env="dev", hub_url=hub.url)
    assert list(app.middlewares) == [gatekeeper]
    with _client(app) as client:
        assert client.get("/gate").status_code == 500
    assert hub.count(path="/gate", status_code=500) == 1
    errors = [e for s in hub.bodies("sync") for e in s["server_errors"]]
    assert (
        len(errors) == 1
        and errors[0]["type"] == "builtins.RuntimeError"
        and errors[0]["msg"] == "gate closed"
    )
    assert "gate closed" in errors[0]["traceback"]


def test_the_scope_keeps_nothing_of_ours_once_recorded(hub: RecordingHub) -> None:
    # The request, its route match and its exception are kept in the scope while the app runs and
    # removed once the request is recorded: the request holds the scope, so left there they would
    # make every request a reference cycle, freed only by the garbage collector.
    app = make_app(hub.url)
    scopes: list[dict[str, Any]] = []

    async def server_side(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)
        if scope["type"] == "http":
            scopes.append(scope)

    with TestClient(server_side, raise_server_exceptions=False) as client:
        assert client.get("/items/1").status_code == 200
        assert client.get("/boom").status_code == 500
    assert len(scopes) == 2
    assert [key for scope in scopes for key in scope if str(key).startswith("apitally")] == []
    assert hub.count(path="/items/{item_id}", status_code=200) == 1
    assert hub.count(path="/boom", status_code=500) == 1
