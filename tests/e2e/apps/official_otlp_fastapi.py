"""The API of official_otlp_flask.py in FastAPI, instrumented with the official `apitally[fastapi]==1.0.0`.

Run by .venv-official-otlp's Python under uvicorn. Configuration comes from the environment:
APITALLY_OTLP_ENDPOINT (read by the client), E2E_WRITE_TOKEN, E2E_ENV and E2E_PORT. The consumer of a
request is taken from the X-Consumer-Id / -Name / -Group headers. On SIGTERM uvicorn shuts down, and the
client drains its last export in the lifespan shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, NoReturn

import apitally
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

logger = logging.getLogger("shop")


class PaymentDeclinedError(Exception):
    """Raised by the payment route so that server errors carry an application exception type."""


class NewItem(BaseModel):
    name: str = Field(min_length=1)


def identify_consumer(request: Request) -> None:
    identifier = request.headers.get("X-Consumer-Id")
    if identifier:
        apitally.set_consumer(
            identifier,
            name=request.headers.get("X-Consumer-Name"),
            group=request.headers.get("X-Consumer-Group"),
        )


app = FastAPI(dependencies=[Depends(identify_consumer)])


@app.get("/items/{item_id}")
def get_item(item_id: int) -> dict[str, Any]:
    if item_id >= 1000:
        raise HTTPException(404)
    logger.warning("item %d looked up", item_id)
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


apitally.init(
    app, write_token=os.environ["E2E_WRITE_TOKEN"], env=os.environ["E2E_ENV"], app_version="1.0.0-e2e"
)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["E2E_PORT"]), log_level="warning")
