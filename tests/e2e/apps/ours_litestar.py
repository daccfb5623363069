"""The shared e2e API (tests/e2e/mix.py, LITESTAR) in Litestar, instrumented with this project's client.

Run as `python ours_litestar.py`: a real uvicorn server. Configuration comes from the environment:
APITALLY_HUB_BASE_URL (read by the client), E2E_CLIENT_ID, E2E_ENV, E2E_PORT, and
E2E_REQUEST_LOGGING=1 for request logging. The consumer of a request is taken from the
X-Consumer-Id / -Name / -Group headers. On SIGTERM uvicorn shuts down: the plugin's shutdown hook
sends the last sync.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, NoReturn

import uvicorn
from apitally.litestar import ApitallyPlugin, RequestLoggingConfig, set_consumer
from litestar import Litestar, Request, delete, get, post, put
from litestar.exceptions import NotFoundException
from pydantic import BaseModel, Field


class PaymentDeclinedError(Exception):
    """Raised by the payment route so that server errors carry an application exception type."""


class NewItem(BaseModel):
    name: str = Field(min_length=1)


async def identify_consumer(request: Request[Any, Any, Any]) -> None:
    identifier = request.headers.get("X-Consumer-Id")
    if identifier:
        set_consumer(
            request,
            identifier,
            name=request.headers.get("X-Consumer-Name"),
            group=request.headers.get("X-Consumer-Group"),
        )


@get("/items/{item_id:int}")
async def get_item(item_id: int) -> dict[str, Any]:
    if item_id >= 1000:
        raise NotFoundException()
    return {"id": item_id, "name": f"item-{item_id}"}


@post("/items", status_code=200)
async def create_item(data: NewItem) -> dict[str, Any]:
    return {"id": 1, "name": data.name}


@put("/items/{item_id:int}")
async def update_item(item_id: int, request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"id": item_id, "updated": len(await request.body())}


@delete("/items/{item_id:int}", status_code=200)
async def delete_item(item_id: int) -> dict[str, Any]:  # never called: known from startup only
    return {"deleted": item_id}


@get("/boom")
async def boom() -> NoReturn:
    raise ValueError("kaboom")


@post("/orders/{order_id:str}/pay")
async def pay(order_id: str) -> NoReturn:
    raise PaymentDeclinedError(f"card declined for order {order_id}")


@get("/slow")
async def slow() -> dict[str, Any]:
    await asyncio.sleep(0.125)  # uvloop can wake a timer a millisecond early: still >= 120 ms
    return {"slept_ms": 120}


app = Litestar(
    route_handlers=[get_item, create_item, update_item, delete_item, boom, pay, slow],
    before_request=identify_consumer,
    plugins=[
        ApitallyPlugin(
            client_id=os.environ["E2E_CLIENT_ID"],
            env=os.environ["E2E_ENV"],
            app_version="1.0.0-e2e",
            request_logging_config=RequestLoggingConfig(
                enabled=os.environ.get("E2E_REQUEST_LOGGING") == "1", log_request_headers=True
            ),
        )
    ],
)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["E2E_PORT"]), log_level="warning")
