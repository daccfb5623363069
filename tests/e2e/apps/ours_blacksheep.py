"""The shared e2e API (tests/e2e/mix.py, BLACKSHEEP) in BlackSheep, instrumented with this project's client.

Run as `python ours_blacksheep.py`: a real uvicorn server. Configuration comes from the environment:
APITALLY_HUB_BASE_URL (read by the client), E2E_CLIENT_ID, E2E_ENV, E2E_PORT, and
E2E_REQUEST_LOGGING=1 for request logging. The consumer of a request is the `apitally_consumer`
claim an authentication handler sets from the X-Consumer-Id / -Name / -Group headers. On SIGTERM
uvicorn shuts down: the app's stop event sends the last sync.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import uvicorn
from apitally.blacksheep import ApitallyConsumer, use_apitally
from blacksheep import Application, Request, Response, json
from blacksheep.exceptions import NotFound
from blacksheep.server.authentication import AuthenticationHandler
from guardpost import Identity


class PaymentDeclinedError(Exception):
    """Raised by the payment route so that server errors carry an application exception type."""


class ConsumerHeaders(AuthenticationHandler):
    async def authenticate(self, context: Request) -> Identity | None:
        identifier = context.get_first_header(b"X-Consumer-Id")
        if identifier:
            name = context.get_first_header(b"X-Consumer-Name")
            group = context.get_first_header(b"X-Consumer-Group")
            consumer = ApitallyConsumer(
                identifier.decode(),
                name=name.decode() if name else None,
                group=group.decode() if group else None,
            )
            context.user = Identity({"apitally_consumer": consumer}, "header")
        return context.user


app = Application()
app.use_authentication().add(ConsumerHeaders())


@app.router.get("/items/{item_id}")
async def get_item(item_id: int) -> Response:
    if item_id >= 1000:
        raise NotFound()
    return json({"id": item_id, "name": f"item-{item_id}"})


@app.router.post("/items")
async def create_item(request: Request) -> Response:
    item: Any = await request.json()
    if not item.get("name"):  # BlackSheep has no 422 of its own: the app answers it
        return json({"detail": "name is required"}, status=422)
    return json({"id": 1, "name": item["name"]})


@app.router.put("/items/{item_id}")
async def update_item(item_id: int, request: Request) -> Response:
    return json({"id": item_id, "updated": len(await request.read() or b"")})


@app.router.delete("/items/{item_id}")
async def delete_item(item_id: int) -> Response:  # never called: the endpoint is known from startup only
    return json({"deleted": item_id})


@app.router.get("/boom")
async def boom() -> Response:
    raise ValueError("kaboom")


@app.router.post("/orders/{order_id}/pay")
async def pay(order_id: str) -> Response:
    raise PaymentDeclinedError(f"card declined for order {order_id}")


@app.router.get("/slow")
async def slow() -> Response:
    await asyncio.sleep(0.125)  # uvloop can wake a timer a millisecond early: still >= 120 ms
    return json({"slept_ms": 120})


use_apitally(
    app,
    client_id=os.environ["E2E_CLIENT_ID"],
    env=os.environ["E2E_ENV"],
    app_version="1.0.0-e2e",
    enable_request_logging=os.environ.get("E2E_REQUEST_LOGGING") == "1",
    log_request_headers=True,
)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["E2E_PORT"]), log_level="warning")
