"""One run of the client-overhead benchmark, in a process of its own (so that it can be run by the
official client's virtual environment as well as by ours): prints one JSON line of figures.

Usage: python bench/_overhead_app.py VARIANT REQUESTS [MIX], VARIANT one of bare, client,
client+logging, bare+capture, client+capture; MIX `small` (the default: three routes, string
consumers) or `realistic` (issue 13's
mix: 1,000 consumers with names and groups, 10 % of requests raising an exception, several path
parameters, JSON bodies of several sizes, query strings). The hub URL comes from
APITALLY_HUB_BASE_URL; `apitally` is whichever package the interpreter has.

The `+capture` variants (small mix only) are an app that logs and traces: each view writes two
records (the root logger at INFO, with a handler of the app's own that discards them) and runs in a
span of its own (an SDK tracer provider, no exporter); `client+capture` adds request logging with
capture_logs and capture_traces, `bare+capture` is its baseline without a client.
"""

import functools
import io
import json
import logging
import sys
import time
from collections.abc import Callable

from _overhead_mix import build_realistic_app, realistic_environs
from flask import Flask, g, request

CLIENT_ID = "5b8b8a5e-9f4e-4c1e-8a55-0e5c2b1c9d7a"
CONSUMERS = 1000
SETTLE_SECONDS = 1.5


def logging_options(variant: str) -> dict:
    if variant not in ("client+logging", "client+capture"):
        return {}
    options = {
        "enable_request_logging": True,
        "log_request_headers": True,
        "log_request_body": True,
        "log_response_body": True,
    }
    if variant == "client+capture":
        options.update(capture_logs=True, capture_traces=True)
    return options


def logging_and_tracing() -> Callable[[Callable], Callable]:
    """For the `+capture` variants: a decorator that makes a view log two records and run in a span."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    trace.set_tracer_provider(TracerProvider())  # as an app that traces would, before the middleware
    tracer = trace.get_tracer("bench")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(logging.NullHandler())  # the app's own handler (it discards: printing is not measured)
    log = logging.getLogger("bench.views")

    def noting(view: Callable) -> Callable:
        @functools.wraps(view)
        def traced(*args, **kwargs):
            with tracer.start_as_current_span("work") as span:
                span.set_attribute("bench.args", len(kwargs))
                log.info("handling %s", request.path)
                log.warning("took the slow path for %d arguments", len(kwargs))
                return view(*args, **kwargs)

        return traced

    return noting


def build_app(variant: str, mix: str = "small") -> Flask:
    if mix == "realistic":
        return build_realistic_app(variant, logging_options(variant))
    app = Flask(__name__)
    app.logger.disabled = True  # the 500s would print tracebacks; the printing is not what we measure
    # The views as they are, or (the +capture variants) logging and tracing.
    view: Callable[[Callable], Callable] = (
        logging_and_tracing() if variant.endswith("+capture") else (lambda function: function)
    )

    @app.before_request
    def identify_consumer() -> None:
        g.apitally_consumer = request.headers.get("X-Consumer")

    @app.get("/items/<int:item_id>")
    @view
    def get_item(item_id: int) -> dict:
        return {"id": item_id, "name": "widget", "price": 9.99}

    @app.post("/echo")
    @view
    def echo() -> dict:
        return request.get_json()

    @app.get("/boom")
    @view
    def boom() -> dict:
        raise ValueError("kaboom")

    if not variant.startswith("bare"):
        from apitally.flask import ApitallyMiddleware

        app.wsgi_app = ApitallyMiddleware(app, client_id=CLIENT_ID, env="bench", **logging_options(variant))
    return app


def environs(n: int, mix: str = "small") -> list[dict]:
    if mix == "realistic":
        return realistic_environs(n, BASE_ENVIRON)
    doc = {"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b"]} for i in range(12)], "pad": ""}
    doc["pad"] = "x" * (1000 - len(json.dumps(doc)))
    body = json.dumps(doc).encode()
    assert len(body) == 1000
    base = BASE_ENVIRON
    out = []
    for i in range(n):
        env = dict(base, HTTP_X_CONSUMER=f"consumer-{i % CONSUMERS}")
        kind = i % 10
        if kind < 5:
            env.update(REQUEST_METHOD="GET", PATH_INFO=f"/items/{i % 100}")
        elif kind < 9:
            env.update(REQUEST_METHOD="POST", PATH_INFO="/echo", CONTENT_TYPE="application/json")
            env["CONTENT_LENGTH"] = str(len(body))
            env["_body"] = body
        else:
            env.update(REQUEST_METHOD="GET", PATH_INFO="/boom")
            env["_raises"] = True
        out.append(env)
    return out


BASE_ENVIRON = {
    "SERVER_NAME": "localhost",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "SCRIPT_NAME": "",
    "QUERY_STRING": "",
    "HTTP_HOST": "localhost",
    "HTTP_USER_AGENT": "bench/1.0",
    "HTTP_ACCEPT": "*/*",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": False,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


def drive(app: Flask, envs: list[dict]) -> tuple[float, float]:
    """Run `envs` through the app as a WSGI server would; returns (wall seconds, process CPU seconds)."""
    wsgi = app.wsgi_app
    statuses = []
    errors = 0

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    start, cpu_start = time.perf_counter(), time.process_time()
    for env in envs:
        env = dict(env)
        errors += env.pop("_raises", False)
        env["wsgi.input"] = io.BytesIO(env.pop("_body", b""))
        body = wsgi(env, start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert statuses.count("500 INTERNAL SERVER ERROR") == errors, statuses[:20]
    return elapsed, cpu


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main() -> None:
    variant, n = sys.argv[1], int(sys.argv[2])
    mix = sys.argv[3] if len(sys.argv) > 3 else "small"
    logging.getLogger("apitally").setLevel(logging.CRITICAL)
    app = build_app(variant, mix)
    drive(app, environs(2000, mix))  # warm-up
    # Let each client's first sync happen before the measured loop: it carries the one-time startup
    # work (the startup payload with its routes and package versions, the instance slot), which a
    # real process spreads over hours of requests. The official client does it as its thread starts
    # (within the warm-up); this one a second after the middleware is built.
    time.sleep(SETTLE_SECONDS)
    envs = environs(n, mix)
    elapsed, cpu = drive(app, envs)
    del envs
    print(json.dumps({"us": elapsed / n * 1e6, "cpu_us": cpu / n * 1e6, "rss": rss()}), flush=True)


if __name__ == "__main__":
    main()
