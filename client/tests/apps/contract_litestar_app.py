"""Scripted traffic for the Litestar contract test, runnable by either client's interpreter.

`python contract_litestar_app.py` builds one Litestar app with whichever `apitally` package the
interpreter has and sends the same requests through it in-process (Litestar's TestClient, which
runs the lifespan: both clients send their startup data at startup and flush at shutdown). The hub
comes from APITALLY_HUB_BASE_URL.
"""

import time
from dataclasses import asdict, dataclass

from apitally.litestar import ApitallyConsumer, ApitallyPlugin
from litestar import Litestar, MediaType, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.testing import TestClient
from official_wait import wait_for_log_capture


def identify(request: Request) -> None:
    who = request.headers.get("X-Who")
    if who == "alice":
        request.state.apitally_consumer = ApitallyConsumer("alice", name="Alice", group="Admins")
    elif who:
        request.state.apitally_consumer = who


@dataclass
class Echo:
    user: str
    password: str
    data: str


@get("/items/{item_id:int}")
async def get_item(item_id: FromPath[int], limit: FromQuery[int] = 10) -> dict:
    return {"id": item_id, "name": "widget", "price": 9.99, "limit": limit}


@post("/echo")
async def echo(data: JSONBody[Echo]) -> dict:
    return asdict(data)


@get("/boom")
async def boom() -> dict:
    raise ValueError("kaboom")


@get("/text", media_type=MediaType.TEXT)
async def text() -> str:
    return "plain " * 300


@get("/never")
async def never() -> dict:
    return {}


app = Litestar(
    [get_item, echo, boom, text, never],
    before_request=identify,
    plugins=[
        ApitallyPlugin(
            client_id="5b8b8a5e-9f4e-4c1e-8a55-0e5c2b1c9d7a",
            env="contract",
            app_version="1.2.3",
            enable_request_logging=True,
            log_request_headers=True,
            log_request_body=True,
            log_response_body=True,
        )
    ],
)


def main() -> None:
    body = {"user": "bob", "password": "hunter2", "data": "d" * 1500}
    traffic = [("GET", f"/items/{i}", {"X-Who": "alice"}, None) for i in range(5)]
    traffic += [("POST", "/echo", {"X-Who": "bob", "Authorization": "Bearer t"}, body)] * 3
    traffic += [("POST", "/echo", {"X-Who": "bob"}, {"user": "bob", "password": 5})] * 2
    traffic += [("GET", "/items/1?limit=many", {}, None)]
    traffic += [("GET", "/boom", {"X-Who": "carol"}, None)] * 2
    traffic += [("GET", "/items/9?token=abc&page=2", {}, None)] * 2
    traffic += [("GET", "/nowhere", {}, None), ("GET", "/text", {"X-Who": "bob"}, None)]
    traffic += [("GET", "/schema/openapi.json", {}, None)]
    with TestClient(app, raise_server_exceptions=False) as client:
        time.sleep(0.5)  # the official client sends its startup data from a task of the loop
        for method, url, headers, json_body in traffic:
            client.request(method, url, headers=headers, json=json_body)
        wait_for_log_capture()  # the official client's loop writes them once a second


if __name__ == "__main__":
    main()
