"""The Litestar plugin, driven in-process through the ASGI interface (Litestar's TestClient runs the
lifespan too), delivering to a recording hub."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from apitally.litestar import ApitallyConsumer, ApitallyPlugin, set_consumer
from litestar import Controller, Litestar, Request, Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream
from litestar.testing import TestClient

from .conftest import CLIENT_ID, RecordingHub


@pytest.fixture(autouse=True)
def root_logger_restored() -> Iterator[None]:
    """Litestar's default logging setup replaces the root logger's handlers and level: undone after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@dataclass
class Item:
    name: str
    price: float


@get("/items/{item_id:int}")
async def get_item(item_id: FromPath[int], request: Request) -> dict[str, Any]:
    if consumer := request.headers.get("X-Consumer"):
        request.state.apitally_consumer = consumer
    return {"id": item_id}


@post("/items")
async def create_item(data: JSONBody[Item]) -> Item:
    return data


@get("/named")
async def named(request: Request) -> dict[str, str]:
    set_consumer(request, "user-1", name="Alice", group="Admins")
    return {"ok": "yes"}


@get("/boom")
async def boom() -> dict[str, str]:
    raise ValueError("kaboom")


@get("/stream")
async def stream() -> Stream:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 100_000

    return Stream(chunks(), media_type="application/json")


@get("/never-called")
async def never_called() -> dict[str, str]:
    return {}


class Users(Controller):
    path = "/users"

    @get("/{user_id:str}")
    async def get_user(self, user_id: FromPath[str], limit: FromQuery[int] = 10) -> dict[str, str]:
        return {"id": user_id}


def make_app(hub_url: str, **options: Any) -> Litestar:
    plugin = ApitallyPlugin(client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)
    v1 = Router("/v1", route_handlers=[Users])
    return Litestar([get_item, create_item, named, boom, stream, never_called, v1], plugins=[plugin])


def _client(app: Litestar) -> TestClient[Litestar]:
    return TestClient(app, raise_server_exceptions=False)


def test_counts_templates_consumers_and_errors(hub: RecordingHub) -> None:
    app = make_app(hub.url)
    with _client(app) as client:
        # the startup payload was accepted before the lifespan startup completed
        (startup,) = hub.bodies("startup")
        paths = {(p["method"], p["path"]) for p in startup["paths"]}
        assert paths == {
            ("GET", "/items/{item_id:int}"),
            ("POST", "/items"),
            ("GET", "/named"),
            ("GET", "/boom"),
            ("GET", "/stream"),
            ("GET", "/never-called"),
            ("GET", "/v1/users/{user_id:str}"),
        }  # the OpenAPI schema's own routes left out, as the official client does
        assert "/never-called" in json.loads(startup["openapi"])["paths"]
        assert startup["client"] == "python:litestar" and "litestar" in startup["versions"]
        for i in range(3):
            assert client.get(f"/items/{i}", headers={"X-Consumer": "c-1"}).json() == {"id": i}
        assert client.get("/v1/users/abc").json() == {"id": "abc"}
        assert client.get("/named").status_code == 200
        assert client.get("/boom").status_code == 500
        bad = client.post("/items", json={"name": "x", "price": "secret-value"})
        assert bad.status_code == 400
        assert client.get("/items/not-an-int").status_code == 404  # Litestar matches the type
        assert client.get("/v1/users/abc?limit=many").status_code == 400
        assert client.get("/nowhere").status_code == 404
        assert client.get("/schema/openapi.json").status_code == 200
        assert len(client.get("/stream").content) == 300_000
    # the lifespan shutdown flushed everything
    assert hub.count(path="/items/{item_id:int}", status_code=200, consumer="c-1", method="GET") == 3
    assert hub.count(path="/v1/users/{user_id:str}", status_code=200) == 1
    assert hub.count(path="/named", consumer="user-1") == 1
    assert hub.count(path="/boom", status_code=500) == 1
    assert hub.count(path="/items", method="POST", status_code=400) == 1
    assert all("nowhere" not in r["path"] and "schema" not in r["path"] for r in hub.requests())
    (streamed,) = [r for r in hub.requests() if r["path"] == "/stream"]
    assert streamed["response_size_sum"] == 300_000
    syncs = hub.bodies("sync")
    consumers = [c for s in syncs for c in s["consumers"]]
    assert {"identifier": "user-1", "name": "Alice", "group": "Admins"} in consumers
    errors = [e for s in syncs for e in s["server_errors"]]
    assert len(errors) == 1 and errors[0]["type"] == "builtins.ValueError" and errors[0]["msg"] == "kaboom"
    assert errors[0]["path"] == "/boom" and "raise ValueError" in errors[0]["traceback"]
    validation = [e for s in syncs for e in s["validation_errors"]]
    assert sorted((e["method"], e["path"], e["loc"], e["type"], e["error_count"]) for e in validation) == [
        ("GET", "/v1/users/{user_id:str}", ["query", "limit"], "", 1),
        ("POST", "/items", ["body", "price"], "", 1),
    ]
    assert all(e["msg"] for e in validation)
    assert "secret-value" not in str(syncs)


def test_consumer_callback_and_long_identifiers(hub: RecordingHub) -> None:
    def callback(request: Request) -> ApitallyConsumer:
        return ApitallyConsumer("k" * 300, name="Key", group=request.headers.get("X-Group"))

    app = make_app(hub.url, consumer_callback=callback)
    with _client(app) as client:
        client.get("/v1/users/x", headers={"X-Group": "G"})
    assert hub.count(consumer="k" * 128, path="/v1/users/{user_id:str}") == 1
    consumers = [c for s in hub.bodies("sync") for c in s["consumers"]]
    assert consumers == [{"identifier": "k" * 128, "name": "Key", "group": "G"}]


def test_the_schema_is_counted_when_not_filtered(hub: RecordingHub) -> None:
    app = make_app(hub.url, filter_openapi_paths=False)
    with _client(app) as client:
        assert client.get("/schema/openapi.json").status_code == 200
        paths = {p["path"] for p in hub.bodies("startup")[0]["paths"]}
        assert "/schema/openapi.json" in paths
    assert hub.count(path="/schema/openapi.json", status_code=200) == 1


def test_request_log_with_bodies_exceptions_and_streaming_bounded(hub: RecordingHub) -> None:
    app = make_app(
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
        client.get("/schema/openapi.json")  # not logged either
    lines = {line["request"]["path"]: line for line in hub.log_lines()}
    assert set(lines) == {"/items", "/stream", "/boom"}
    created = lines["/items"]
    assert created["request"]["method"] == "POST"
    assert created["request"]["url"] == "http://testserver.local/items?x=1"
    assert dict(created["request"]["headers"])["authorization"] == "******"
    assert json.loads(base64.b64decode(created["request"]["body"])) == {"name": "a", "price": 1.5}
    assert json.loads(base64.b64decode(created["response"]["body"])) == {"name": "a", "price": 1.5}
    assert created["response"]["status_code"] == 201
    streamed = lines["/stream"]
    assert base64.b64decode(streamed["response"]["body"]) == b"<body too large>"
    assert streamed["response"]["size"] == 300_000
    failed = lines["/boom"]
    assert failed["response"]["status_code"] == 500 and failed["exception"]["type"] == "builtins.ValueError"


def test_bad_client_id_passes_through(hub: RecordingHub) -> None:
    app = Litestar([get_item], plugins=[ApitallyPlugin(client_id="not-a-uuid", hub_url=hub.url)])
    with _client(app) as client:
        assert client.get("/items/4").json() == {"id": 4}
    assert hub.calls == []


@pytest.mark.parametrize("fault_at", ["route_of", "consumer_of", "route"])
def test_a_client_fault_never_reaches_the_app(
    hub: RecordingHub, monkeypatch: pytest.MonkeyPatch, fault_at: str
) -> None:
    from apitally import litestar
    from apitally.client import guard

    monkeypatch.setattr(guard, "STRICT", False)
    app = make_app(hub.url)

    def broken(self: Any, scope: Any) -> Any:
        raise RuntimeError("client bug")

    monkeypatch.setattr(litestar._LitestarMiddleware, fault_at, broken)
    with _client(app) as client:
        response = client.get("/items/3")
        assert response.status_code == 200 and response.json() == {"id": 3}
        assert client.get("/stream").content == b"x" * 300_000
        assert client.get("/boom").status_code == 500


def test_the_app_is_measured_once_not_per_route(hub: RecordingHub) -> None:
    # A route with any middleware gets a second exception handler of Litestar's around it (a cost
    # on every request): the plugin adds none, it measures the app at its ASGI interface.
    app = make_app(hub.url)
    handlers = [h for route in app.routes for h in getattr(route, "route_handlers", [])]
    assert handlers and all(handler.resolve_middleware() == [] for handler in handlers)
    assert isinstance(app, Litestar)
    with _client(app) as client:
        assert client.get("/items/1").json() == {"id": 1}
        assert client.get("/boom").status_code == 500
    assert hub.count(path="/items/{item_id:int}", status_code=200) == 1
    assert hub.count(path="/boom", status_code=500) == 1


def test_the_exception_hook_runs_on_the_event_loop(hub: RecordingHub) -> None:
    # Litestar runs a plain-function hook in its thread pool: a thread hop for every exception.
    from litestar.config.app import AppConfig
    from litestar.utils.sync import is_async_callable

    config = ApitallyPlugin(client_id=CLIENT_ID, env="dev", hub_url=hub.url).on_app_init(AppConfig())
    assert config.after_exception and all(is_async_callable(hook) for hook in config.after_exception)
