"""A Flask API instrumented with the plain OpenTelemetry SDK (no Apitally client), served by Werkzeug.

Run by .venv-otel's Python. The OTLP/HTTP protobuf exporters read the standard variables
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_METRIC_EXPORT_INTERVAL, ...), with their
default cumulative temporality; E2E_PORT is the port. SIGTERM stops the server normally: the SDK's
atexit hooks flush the last spans and metrics before the process ends.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, NoReturn

from flask import Flask, abort, jsonify, request
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from werkzeug.serving import make_server

trace.set_tracer_provider(TracerProvider())
trace.get_tracer_provider().add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # type: ignore[attr-defined]
metrics.set_meter_provider(
    MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
)

app = Flask(__name__)
FlaskInstrumentor().instrument_app(app)


@app.get("/items/<int:item_id>")
def get_item(item_id: int) -> Any:
    if item_id >= 1000:
        abort(404)
    return jsonify(id=item_id, name=f"item-{item_id}")


@app.post("/items")
def create_item() -> Any:
    return jsonify(id=1, name=(request.get_json(silent=True) or {}).get("name")), 201


@app.get("/boom")
def boom() -> NoReturn:
    raise ValueError("kaboom")


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
