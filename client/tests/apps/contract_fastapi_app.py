"""Scripted traffic for the FastAPI contract test, runnable by either client's interpreter.

`python contract_fastapi_app.py` builds one FastAPI app with whichever `apitally` package the
interpreter has and sends the same requests through it in-process (Starlette's TestClient, which
runs the lifespan: both clients send their startup data at startup and flush at shutdown). The hub
comes from APITALLY_HUB_BASE_URL.
"""

import time

from apitally.fastapi import ApitallyConsumer, ApitallyMiddleware
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from starlette.testclient import TestClient


def identify(request: Request) -> None:
    who = request.headers.get("X-Who")
    if who == "alice":
        request.state.apitally_consumer = ApitallyConsumer("alice", name="Alice", group="Admins")
    elif who:
        request.state.apitally_consumer = who


app = FastAPI(dependencies=[Depends(identify)])


class Echo(BaseModel):
    user: str
    password: str
    data: str


@app.get("/items/{item_id}")
def get_item(item_id: int) -> dict:
    return {"id": item_id, "name": "widget", "price": 9.99}


@app.post("/echo")
def echo(body: Echo) -> dict:
    return body.model_dump()


@app.get("/boom")
def boom() -> dict:
    raise ValueError("kaboom")


@app.get("/text", response_class=PlainTextResponse)
def text() -> str:
    return "plain " * 300


@app.get("/never")
def never() -> dict:
    return {}


app.add_middleware(
    ApitallyMiddleware,
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
    traffic += [("GET", "/items/abc", {}, None)]
    traffic += [("GET", "/boom", {"X-Who": "carol"}, None)] * 2
    traffic += [("GET", "/items/9?token=abc&page=2", {}, None)] * 2
    traffic += [("GET", "/nowhere", {}, None), ("GET", "/text", {"X-Who": "bob"}, None)]
    with TestClient(app, raise_server_exceptions=False) as client:
        time.sleep(0.5)  # the official client sends its startup data from a task of the loop
        for method, url, headers, json_body in traffic:
            client.request(method, url, headers=headers, json=json_body)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
