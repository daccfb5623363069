"""Scripted traffic for the BlackSheep contract test, runnable by either client's interpreter.

`python contract_blacksheep_app.py` builds one BlackSheep app with whichever `apitally` package the
interpreter has and sends the same requests through its ASGI interface in-process (Starlette's
TestClient, which runs the lifespan: both clients send their startup data at startup and flush at
shutdown; BlackSheep's own test client would call the app's handler and skip the ASGI layer). The
consumer is the `apitally_consumer` claim of the identity an authentication handler sets. The hub
comes from APITALLY_HUB_BASE_URL.
"""

import time

from apitally.blacksheep import ApitallyConsumer, use_apitally
from blacksheep import Application, FromJSON, Request, json, text
from blacksheep.server.authentication import AuthenticationHandler
from guardpost import Identity
from official_wait import wait_for_log_capture
from pydantic import BaseModel
from starlette.testclient import TestClient


class WhoIsIt(AuthenticationHandler):
    async def authenticate(self, context: Request) -> Identity | None:
        who = context.get_first_header(b"X-Who")
        if who == b"alice":
            context.user = Identity(
                {"apitally_consumer": ApitallyConsumer("alice", name="Alice", group="Admins")}, "header"
            )
        elif who:
            context.user = Identity({"apitally_consumer": who.decode()}, "header")
        return context.user


class Echo(BaseModel):
    user: str
    password: str
    data: str


app = Application()
app.use_authentication().add(WhoIsIt())


@app.router.get("/items/{item_id}")
async def get_item(item_id: int, limit: int = 10):
    """Get one item.

    The item, with the page size asked for."""
    return json({"id": item_id, "name": "widget", "price": 9.99, "limit": limit})


@app.router.post("/echo")
async def echo(data: FromJSON[Echo]):
    return json(data.value.model_dump())


@app.router.get("/boom")
async def boom():
    raise ValueError("kaboom")


@app.router.get("/text")
async def plain():
    return text("plain " * 300)


@app.router.get("/never")
async def never():
    return json({})


use_apitally(
    app,
    client_id="5b8b8a5e-9f4e-4c1e-8a55-0e5c2b1c9d7a",
    env="contract",
    app_version="1.2.3",
    enable_request_logging=True,
    log_request_headers=True,
    log_request_body=True,
    log_response_body=True,
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
    with TestClient(app, raise_server_exceptions=False) as client:
        time.sleep(0.5)  # the official client sends its startup data from a task of the loop
        for method, url, headers, json_body in traffic:
            client.request(method, url, headers=headers, json=json_body)
        wait_for_log_capture()  # the official client's loop writes them once a second


if __name__ == "__main__":
    main()
