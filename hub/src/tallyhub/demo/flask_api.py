"""The demo's Flask API, instrumented with `apitally.flask` (this project's client, or the official one).

Run as a script by the Python that has `apitally.flask`: DEMO_CLIENT_ID, DEMO_PORT and
APITALLY_HUB_BASE_URL (read by the client) come from the environment. The consumer of a request comes
from the X-Consumer-Id / -Name / -Group headers the traffic generator sends. SIGTERM stops it
normally, so the client's exit hook sends a last sync.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import time
from typing import Any, NoReturn

from apitally.flask import ApitallyMiddleware, set_consumer
from flask import Flask, abort, jsonify, request
from werkzeug.serving import make_server


class PaymentDeclinedError(Exception):
    """The payment route's failure: a server error with an application exception type."""


app = Flask(__name__)
app.wsgi_app = ApitallyMiddleware(  # type: ignore[method-assign]
    app, client_id=os.environ["DEMO_CLIENT_ID"], env="prod", app_version="2.4.0-demo"
)


@app.before_request
def identify_consumer() -> None:
    identifier = request.headers.get("X-Consumer-Id")
    if identifier:
        set_consumer(
            identifier,
            name=request.headers.get("X-Consumer-Name"),
            group=request.headers.get("X-Consumer-Group"),
        )


@app.get("/items")
def list_items() -> Any:
    return jsonify(items=[{"id": i, "name": f"item-{i}"} for i in range(random.randint(5, 60))])


@app.get("/items/<int:item_id>")
def get_item(item_id: int) -> Any:
    if item_id >= 900:
        abort(404)
    return jsonify(id=item_id, name=f"item-{item_id}")


@app.post("/items")
def create_item() -> Any:
    data = request.get_json(silent=True) or {}
    if not data.get("name"):
        return jsonify(error="name is required"), 422
    return jsonify(id=random.randint(1, 900), name=data["name"]), 201


@app.delete("/items/<int:item_id>")
def delete_item(item_id: int) -> Any:
    return "", 204  # never called by the generator: shows as "not called" from startup data


@app.get("/reports/<name>")
def report(name: str) -> Any:
    time.sleep(random.uniform(0.3, 1.6))  # the slow endpoint
    return jsonify(report=name, rows=[random.random() for _ in range(500)])


@app.post("/payments")
def pay() -> Any:
    if random.random() < 0.15:
        raise PaymentDeclinedError("card declined by the issuer (demo)")
    if random.random() < 0.05:
        raise TimeoutError("payment gateway did not answer within 2 s (demo)")
    time.sleep(random.uniform(0.05, 0.3))
    return jsonify(status="paid"), 201


@app.get("/admin/stats")
def admin_stats() -> Any:
    if request.headers.get("X-Consumer-Group") != "Internal":
        abort(403)
    return jsonify(ok=True)


def main() -> NoReturn:
    # No access log or tracebacks on the terminal: the dashboard shows them, which is the point.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app.logger.setLevel(logging.CRITICAL)
    # SIGTERM ends serve_forever by SystemExit (shutdown() from a handler in its own thread would
    # deadlock); exit hooks then run, so the client sends its last sync.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = make_server("127.0.0.1", int(os.environ["DEMO_PORT"]), app, threaded=True)
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
