"""Scripted traffic for the contract test, runnable by either client's interpreter.

`python contract_app.py` builds one Flask app with whichever `apitally` package the interpreter
has, sends the same requests through it, waits for the client's first sync cycle and exits, so
that the exit flush sends the rest. The hub comes from APITALLY_HUB_BASE_URL.
"""

import time

from apitally.flask import ApitallyConsumer, ApitallyMiddleware
from flask import Flask, g, request

app = Flask(__name__)
app.logger.disabled = True


@app.before_request
def identify() -> None:
    who = request.headers.get("X-Who")
    if who == "alice":
        g.apitally_consumer = ApitallyConsumer("alice", name="Alice", group="Admins")
    elif who:
        g.apitally_consumer = who


@app.get("/items/<int:item_id>")
def get_item(item_id: int) -> dict:
    return {"id": item_id, "name": "widget", "price": 9.99}


@app.post("/echo")
def echo() -> dict:
    return request.get_json()


@app.get("/boom")
def boom() -> dict:
    raise ValueError("kaboom")


@app.get("/text")
def text() -> str:
    return "plain " * 300


app.wsgi_app = ApitallyMiddleware(
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
    client = app.test_client()
    body = {"user": "bob", "password": "hunter2", "data": "d" * 1500}
    traffic = [("GET", f"/items/{i}", {"X-Who": "alice"}, None) for i in range(5)]
    traffic += [("POST", "/echo", {"X-Who": "bob", "Authorization": "Bearer t"}, body)] * 3
    traffic += [("GET", "/boom", {"X-Who": "carol"}, None)] * 2
    traffic += [("GET", "/items/9?token=abc&page=2", {}, None)] * 2
    traffic += [("GET", "/nowhere", {}, None), ("GET", "/text", {"X-Who": "bob"}, None)]
    for method, url, headers, json_body in traffic:
        with client.open(url, method=method, headers=headers, json=json_body) as response:
            response.get_data()
    time.sleep(2.5)  # both clients start syncing about 1 s after the middleware is built


if __name__ == "__main__":
    main()
