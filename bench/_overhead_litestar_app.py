"""One run of the ASGI client-overhead benchmark on Litestar, in a process of its own (run by the
official client's virtual environment as well as by ours): prints one JSON line of figures.

Usage: python bench/_overhead_litestar_app.py VARIANT REQUESTS, VARIANT one of bare, client,
client+logging. The mix, the driving (in-process through the ASGI interface, lifespan included) and
the figures are `_overhead_asgi_app.py`'s; only the app differs: the same three routes on Litestar,
the consumer set in a `before_request` hook, the client being the `ApitallyPlugin`.
"""

import asyncio
import json
import logging
import sys
from typing import Any

from _overhead_asgi_app import CLIENT_ID, SETTLE_SECONDS, drive, lifespan, requests, rss
from litestar import Litestar, Request, get, post
from litestar.params import FromPath


def identify_consumer(request: Request) -> None:
    request.state.apitally_consumer = request.headers.get("x-consumer")


@get("/items/{item_id:int}")
async def get_item(item_id: FromPath[int]) -> dict:
    return {"id": item_id, "name": "widget", "price": 9.99}


@post("/echo", status_code=200)
async def echo(request: Request) -> Any:
    return await request.json()


@get("/boom")
async def boom() -> dict:
    raise ValueError("kaboom")


def build_app(variant: str) -> Litestar:
    plugins = []
    if variant != "bare":
        from apitally.litestar import ApitallyPlugin

        options: dict[str, Any] = {}
        if variant == "client+logging":
            options = {
                "enable_request_logging": True,
                "log_request_headers": True,
                "log_request_body": True,
                "log_response_body": True,
            }
        plugins.append(ApitallyPlugin(client_id=CLIENT_ID, env="bench", **options))
    # No logging setup of Litestar's: its traceback of each 500 would dominate every variant alike.
    return Litestar(
        [get_item, echo, boom], before_request=identify_consumer, plugins=plugins, logging_config=None
    )


async def run(variant: str, n: int) -> dict:
    app: Any = build_app(variant)
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
    logging.getLogger("apitally").setLevel(logging.CRITICAL)
    print(json.dumps(asyncio.run(run(variant, n))), flush=True)


if __name__ == "__main__":
    main()
