"""The Flask API of official_flask.py, instrumented with the official `apitally[flask]==1.0.0` (OTLP).

Run by .venv-official-otlp's Python. Configuration comes from the environment: APITALLY_OTLP_ENDPOINT
(read by the client), E2E_WRITE_TOKEN, E2E_ENV and E2E_PORT. The consumer of a request is taken from
the X-Consumer-Id / -Name / -Group headers. SIGTERM stops the server normally, so the client's atexit
hook drains its last export before the process ends.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import Any, NoReturn

import apitally
from flask import Flask, abort, jsonify, request
from werkzeug.serving import make_server

logger = logging.getLogger("shop")


class PaymentDeclinedError(Exception):
    """Raised by the payment route so that server errors carry an application exception type."""


app = Flask(__name__)


@app.before_request
def identify_consumer() -> None:
    identifier = request.headers.get("X-Consumer-Id")
    if identifier:
        apitally.set_consumer(
            identifier,
            name=request.headers.get("X-Consumer-Name"),
            group=request.headers.get("X-Consumer-Group"),
        )


@app.get("/items/<int:item_id>")
def get_item(item_id: int) -> Any:
    if item_id >= 1000:
        abort(404)
    logger.warning("item %d looked up", item_id)
    return jsonify(id=item_id, name=f"item-{item_id}")


@app.post("/items")
def create_item() -> Any:
    data = request.get_json(silent=True) or {}
    if not data.get("name"):
        # Flask has no validation errors of its own: a 422 is only a status to the client.
        return jsonify(error="name is required"), 422
    return jsonify(id=1, name=data["name"])


@app.put("/items/<int:item_id>")
def update_item(item_id: int) -> Any:
    return jsonify(id=item_id, updated=len(request.get_data()))


@app.delete("/items/<int:item_id>")
def delete_item(item_id: int) -> Any:  # never called: the endpoint is known from startup only
    return jsonify(deleted=item_id)


@app.get("/boom")
def boom() -> NoReturn:
    raise ValueError("kaboom")


@app.post("/orders/<order_id>/pay")
def pay(order_id: str) -> NoReturn:
    raise PaymentDeclinedError(f"card declined for order {order_id}")


@app.get("/slow")
def slow() -> Any:
    time.sleep(0.12)
    return jsonify(slept_ms=120)


apitally.init(
    app, write_token=os.environ["E2E_WRITE_TOKEN"], env=os.environ["E2E_ENV"], app_version="1.0.0-e2e"
)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = make_server("127.0.0.1", int(os.environ["E2E_PORT"]), app, threaded=True)
    # A request's telemetry is recorded after its answer is written: on SIGTERM, wait for the threads
    # still finishing answered requests before the client's exit hook sends the last of it.
    server.daemon_threads = False
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
