"""The shared e2e API (tests/e2e/mix.py, FASTAPI) in FastAPI, instrumented with this project's client.

Run as `python ours_fastapi.py`: a real uvicorn server. Configuration comes from the environment:
APITALLY_HUB_BASE_URL (read by the client), E2E_CLIENT_ID, E2E_ENV, E2E_PORT, and
E2E_REQUEST_LOGGING=1 for request logging. The consumer of a request is taken from the
X-Consumer-Id / -Name / -Group headers. On SIGTERM uvicorn shuts down: the lifespan shutdown sends
the last sync.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, NoReturn

import uvicorn
from apitally.fastapi import ApitallyMiddleware, set_consumer
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field


class PaymentDeclinedError(Exception):
    """Raised by the payment route so that server errors carry an application exception type."""


class NewItem(BaseModel):
    name: str = Field(min_length=1)


def identify_consumer(request: Request) -> None:
    identifier = request.headers.get("X-Consumer-Id")
    if identifier:
        set_consumer(
            request,
            identifier,
            name=request.headers.get("X-Consumer-Name"),
            group=request.headers.get("X-Consumer-Group"),
        )


app = FastAPI(dependencies=[Depends(identify_consumer)])


@app.get("/items/{item_id}")
def get_item(item_id: int) -> dict[str, Any]:
    if item_id >= 1000:
        raise HTTPException(404)
    return {"id": item_id, "name": f"item-{item_id}"}


@app.post("/items")
def create_item(item: NewItem) -> dict[str, Any]:
    return {"id": 1, "name": item.name}


@app.put("/items/{item_id}")
async def update_item(item_id: int, request: Request) -> dict[str, Any]:
    return {"id": item_id, "updated": len(await request.body())}


@app.delete("/items/{item_id}")
def delete_item(item_id: int) -> dict[str, Any]:  # never called: the endpoint is known from startup only
    return {"deleted": item_id}


@app.get("/boom", response_model=None)
def boom() -> NoReturn:
    raise ValueError("kaboom")


@app.post("/orders/{order_id}/pay", response_model=None)
def pay(order_id: str) -> NoReturn:
    raise PaymentDeclinedError(f"card declined for order {order_id}")


@app.get("/slow")
async def slow() -> dict[str, Any]:
    await asyncio.sleep(0.125)  # uvloop can wake a timer a millisecond early: still >= 120 ms
    return {"slept_ms": 120}


app.add_middleware(
    ApitallyMiddleware,
    client_id=os.environ["E2E_CLIENT_ID"],
    env=os.environ["E2E_ENV"],
    app_version="1.0.0-e2e",
    enable_request_logging=os.environ.get("E2E_REQUEST_LOGGING") == "1",
    log_request_headers=True,
)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["E2E_PORT"]), log_level="warning")
