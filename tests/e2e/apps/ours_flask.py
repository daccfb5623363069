"""A small Flask API instrumented with this project's client, for `flask --app ... run` (Werkzeug's
development server) and for Flask's test client.

Configuration comes from the environment: APITALLY_HUB_BASE_URL, E2E_CLIENT_ID and E2E_ENV. Ctrl-C
(SIGINT) stops `flask run` normally, so the client's exit flush sends the last sync.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from apitally.flask import ApitallyMiddleware
from flask import Flask, Response, request

app = Flask(__name__)
app.logger.disabled = True  # the 500s would print their tracebacks
app.wsgi_app = ApitallyMiddleware(  # type: ignore[method-assign]
    app, client_id=os.environ["E2E_CLIENT_ID"], env=os.environ["E2E_ENV"]
)


@app.get("/items/<int:item_id>")
def get_item(item_id: int) -> dict[str, Any]:
    return {"id": item_id, "name": f"item-{item_id}"}


@app.post("/items")
def create_item() -> tuple[dict[str, Any], int]:
    return {"created": request.get_json(silent=True)}, 201


@app.get("/stream")
def stream() -> Response:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the client watches the body
        for i in range(3):
            yield b"%d" % i * 500

    return Response(chunks(), mimetype="text/plain")


@app.get("/boom")
def boom() -> dict[str, Any]:
    raise ValueError("kaboom")
