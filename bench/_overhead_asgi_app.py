"""One run of the ASGI client-overhead benchmark (FastAPI, or BlackSheep), in a process of its own (run
by the official client's virtual environment as well as by ours): prints one JSON line of figures.

Usage: python bench/_overhead_asgi_app.py VARIANT REQUESTS [FRAMEWORK], VARIANT one of bare, client,
client+logging, FRAMEWORK fastapi (the default) or blacksheep. The app is driven in-process through its
ASGI interface, lifespan included, on one event loop; the hub URL comes from APITALLY_HUB_BASE_URL;
`apitally` is whichever package the interpreter has. Both apps have the same three routes and set
the consumer the way their framework's guide shows (a FastAPI dependency; BlackSheep: an identity
claim set by an authentication handler).
"""

import asyncio
import contextlib
import json
import logging
import sys
import time
from typing import Any

CLIENT_ID = "5b8b8a5e-9f4e-4c1e-8a55-0e5c2b1c9d7a"
CONSUMERS = 1000
SETTLE_SECONDS = 1.5
YIELD_EVERY = 50  # requests between two turns of the loop, where the official client's sync task runs


LOGGING_OPTIONS = {
    "enable_request_logging": True,
    "log_request_headers": True,
    "log_request_body": True,
    "log_response_body": True,
}


def build_app(variant: str, framework: str = "fastapi") -> Any:
    return build_blacksheep(variant) if framework == "blacksheep" else build_fastapi(variant)


def build_fastapi(variant: str) -> Any:
    from fastapi import Depends, FastAPI, Request

    async def identify_consumer(request: Request) -> None:
        request.state.apitally_consumer = request.headers.get("x-consumer")

    app = FastAPI(dependencies=[Depends(identify_consumer)], openapi_url=None)

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict:
        return {"id": item_id, "name": "widget", "price": 9.99}

    @app.post("/echo")
    async def echo(request: Request) -> Any:
        return await request.json()

    @app.get("/boom")
    async def boom() -> dict:
        raise ValueError("kaboom")

    if variant != "bare":
        from apitally.fastapi import ApitallyMiddleware

        options = LOGGING_OPTIONS if variant == "client+logging" else {}
        app.add_middleware(ApitallyMiddleware, client_id=CLIENT_ID, env="bench", **options)
    return app


def build_blacksheep(variant: str) -> Any:
    from blacksheep import Application, Request, json
    from blacksheep.server.authentication import AuthenticationHandler
    from guardpost import Identity

    class ConsumerHeader(AuthenticationHandler):
        async def authenticate(self, context: Request) -> Identity | None:
            consumer = context.get_first_header(b"x-consumer")
            if consumer:
                context.user = Identity({"apitally_consumer": consumer.decode()}, "header")
            return context.user

    app = Application()
    app.use_authentication().add(ConsumerHeader())
    # BlackSheep logs each unhandled exception with its traceback: that would dominate every variant alike.
    logging.getLogger("blacksheep.server").disabled = True

    @app.router.get("/items/{item_id}")
    async def get_item(item_id: int) -> Any:
        return json({"id": item_id, "name": "widget", "price": 9.99})

    @app.router.post("/echo")
    async def echo(request: Request) -> Any:
        return json(await request.json())

    @app.router.get("/boom")
    async def boom() -> Any:
        raise ValueError("kaboom")

    if variant != "bare":
        from apitally.blacksheep import use_apitally

        options = LOGGING_OPTIONS if variant == "client+logging" else {}
        use_apitally(app, client_id=CLIENT_ID, env="bench", **options)
    return app


def requests(n: int) -> list[tuple[dict, bytes]]:
    doc = {"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b"]} for i in range(12)], "pad": ""}
    doc["pad"] = "x" * (1000 - len(json.dumps(doc)))
    body = json.dumps(doc).encode()
    assert len(body) == 1000
    out = []
    for i in range(n):
        headers = [
            (b"host", b"localhost"),
            (b"user-agent", b"bench/1.0"),
            (b"accept", b"*/*"),
            (b"x-consumer", f"consumer-{i % CONSUMERS}".encode()),
        ]
        kind = i % 10
        data = b""
        if kind < 5:
            method, path = "GET", f"/items/{i % 100}"
        elif kind < 9:
            method, path, data = "POST", "/echo", body
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        else:
            method, path = "GET", "/boom"
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("localhost", 80),
        }
        out.append((scope, data))
    return out


async def drive(app: Any, calls: list[tuple[dict, bytes]]) -> tuple[float, float]:
    """Run `calls` through the app as an ASGI server would; returns (wall seconds, process CPU seconds)."""
    statuses: list[int] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start, cpu_start = time.perf_counter(), time.process_time()
    for i, (scope, data) in enumerate(calls):
        message = {"type": "http.request", "body": data, "more_body": False}

        async def receive(message: dict = message) -> dict:
            return message

        # Starlette re-raises the exception after sending its 500, as it does to a server.
        with contextlib.suppress(ValueError):
            await app(dict(scope), receive, send)
        if i % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert statuses.count(500) == len(calls) // 10, statuses[:20]
    return elapsed, cpu


async def lifespan(app: Any) -> tuple[asyncio.Queue, asyncio.Task]:
    """Start the app's lifespan (as a server does) and wait for its startup; returns what stops it."""
    inbox: asyncio.Queue = asyncio.Queue()
    started = asyncio.Event()

    async def receive() -> dict:
        return await inbox.get()

    async def send(message: dict) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.wait_for(started.wait(), 30)
    return inbox, task


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def run(variant: str, n: int, framework: str = "fastapi") -> dict:
    app = build_app(variant, framework)
    inbox, task = await lifespan(app)
    await drive(app, requests(2000))  # warm-up
    await asyncio.sleep(SETTLE_SECONDS)  # both clients' startup work is done before the measured loop
    calls = requests(n)
    elapsed, cpu = await drive(app, calls)
    del calls
    figures = {"us": elapsed / n * 1e6, "cpu_us": cpu / n * 1e6, "rss": rss()}
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 30)
    return figures


def main() -> None:
    variant, n = sys.argv[1], int(sys.argv[2])
    framework = sys.argv[3] if len(sys.argv) > 3 else "fastapi"
    logging.getLogger("apitally").setLevel(logging.CRITICAL)
    print(json.dumps(asyncio.run(run(variant, n, framework))), flush=True)


if __name__ == "__main__":
    main()
