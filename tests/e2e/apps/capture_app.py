"""One order API in Flask (Werkzeug's server) or FastAPI (uvicorn), with request logging and
`capture_logs` and `capture_traces` on, for whichever `apitally` the interpreter has: this project's
(the test's Python) or the official 0.25.1 (.venv-official). Both take the same arguments.

Configuration from the environment: E2E_FRAMEWORK (flask or fastapi), APITALLY_HUB_BASE_URL,
E2E_CLIENT_ID, E2E_ENV and E2E_PORT. GET /orders/{id} writes two stdlib records (one of them longer
than a logged message may be), a loguru record and a record below the root logger's level, inside
a span of its own; it answers with the ids of its trace and of its current span (the parent of its
own), so that the test knows what the hub must show.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

from loguru import logger as loguru_logger
from opentelemetry import trace

FRAMEWORK = os.environ["E2E_FRAMEWORK"]
LONG_MESSAGE = "long " + "x" * 3000
OPTIONS: dict[str, Any] = {
    "client_id": os.environ["E2E_CLIENT_ID"],
    "env": os.environ["E2E_ENV"],
    "enable_request_logging": True,
    "capture_logs": True,
    "capture_traces": True,
}

log = logging.getLogger("shop.orders")
tracer = trace.get_tracer("shop")


def handle_order(order_id: int) -> dict[str, Any]:
    log.warning("order %s looked up", order_id)  # line: stdlib warning
    log.debug("below the root logger's level: not captured")
    loguru_logger.info("order {} priced", order_id)  # line: loguru info
    with tracer.start_as_current_span("db.query", kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("db.statement", "SELECT * FROM orders WHERE id = ?")
        span.set_attribute("db.rows", 1)
        span.set_status(trace.StatusCode.ERROR, "deadlock")
        log.error(LONG_MESSAGE)  # line: stdlib error
    current = trace.get_current_span().get_span_context()
    return {"trace_id": format(current.trace_id, "032x"), "span_id": format(current.span_id, "016x")}


def serve_flask() -> None:
    from apitally.flask import ApitallyMiddleware
    from flask import Flask
    from werkzeug.serving import make_server

    app = Flask(__name__)

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> Any:
        return handle_order(order_id)

    app.wsgi_app = ApitallyMiddleware(app, **OPTIONS)  # type: ignore[method-assign]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    make_server("127.0.0.1", int(os.environ["E2E_PORT"]), app, threaded=True).serve_forever()


def serve_fastapi() -> None:
    import uvicorn
    from apitally.fastapi import ApitallyMiddleware
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, Any]:
        return handle_order(order_id)

    app.add_middleware(ApitallyMiddleware, **OPTIONS)
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["E2E_PORT"]), log_level="warning")


if __name__ == "__main__":
    serve_flask() if FRAMEWORK == "flask" else serve_fastapi()
