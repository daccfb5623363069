"""One run of the Django client-overhead benchmark, in a process of its own (run by the official
client's virtual environment as well as by ours): prints one JSON line of figures.

Usage: python bench/_overhead_django_app.py VARIANT REQUESTS, VARIANT one of bare, client,
client+logging. A Django Ninja API driven in-process through Django's WSGI handler, as a WSGI server
drives it; the hub URL comes from APITALLY_HUB_BASE_URL; `apitally` is whichever package the
interpreter has. The mix is issue 13's: 1,000 consumers with names and groups (set as
`request.apitally_consumer`), routes with path parameters, ~1 KB JSON bodies echoed, 10 % of
requests raising an exception.
"""

import io
import json
import logging
import sys
import time

import django
from django.conf import settings

CLIENT_ID = "5b8b8a5e-9f4e-4c1e-8a55-0e5c2b1c9d7a"
CONSUMERS = 1000
SETTLE_SECONDS = 1.5
_PEOPLE = {f"key-{i:04d}": (f"Customer {i}", f"plan-{i % 4}") for i in range(CONSUMERS)}


def configure(variant: str) -> None:
    options = {"client_id": CLIENT_ID, "env": "bench"}
    if variant == "client+logging":
        options.update(
            enable_request_logging=True,
            log_request_headers=True,
            log_request_body=True,
            log_response_body=True,
        )
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="__main__",
        INSTALLED_APPS=[],
        MIDDLEWARE=[] if variant == "bare" else ["apitally.django.ApitallyMiddleware"],
        DATABASES={},
        LOGGING_CONFIG=None,
        APITALLY_MIDDLEWARE=options,
    )
    django.setup()
    # Django logs each unhandled exception with its traceback; that printing is not what is measured.
    logging.getLogger("django.request").disabled = True


configure(sys.argv[1] if len(sys.argv) > 1 else "bare")

from apitally.django import ApitallyConsumer  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.urls import path  # noqa: E402
from ninja import NinjaAPI  # noqa: E402

api = NinjaAPI(openapi_url=None, docs_url=None)


def identify(request) -> None:
    key = request.headers.get("X-Api-Key")
    person = _PEOPLE.get(key)
    if person is not None:
        request.apitally_consumer = ApitallyConsumer(key, name=person[0], group=person[1])


@api.get("/users/{user_id}")
def get_user(request, user_id: int):
    identify(request)
    return {"id": user_id, "name": f"user {user_id}", "email": f"u{user_id}@example.com", "active": True}


@api.get("/users/{user_id}/orders/{order_id}")
def get_order(request, user_id: int, order_id: str):
    identify(request)
    lines = [{"sku": f"sku-{n}", "qty": n + 1, "price": 4.5 * (n + 1)} for n in range(user_id % 8 + 1)]
    return {"id": order_id, "user": user_id, "lines": lines}


@api.post("/echo")
def echo(request):
    identify(request)
    return json.loads(request.body)


@api.get("/boom")
def boom(request):
    identify(request)
    raise ValueError("kaboom")


urlpatterns = [path("v1/", api.urls)]


def environs(n: int) -> list[dict]:
    doc = {"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b"]} for i in range(12)], "pad": ""}
    doc["pad"] = "x" * (1000 - len(json.dumps(doc)))
    body = json.dumps(doc).encode()
    base = {
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
        "HTTP_USER_AGENT": "bench/1.0",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    out = []
    for i in range(n):
        env = dict(base, HTTP_X_API_KEY=f"key-{i % CONSUMERS:04d}")
        kind = i % 10
        data = b""
        if kind < 4:
            env.update(REQUEST_METHOD="GET", PATH_INFO=f"/v1/users/{1000 + i % 5000}")
        elif kind < 6:
            env.update(REQUEST_METHOD="GET", PATH_INFO=f"/v1/users/{1000 + i % 5000}/orders/ord-{i % 977}")
        elif kind < 9:
            env.update(REQUEST_METHOD="POST", PATH_INFO="/v1/echo")
            env.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
            data = body
        else:
            env.update(REQUEST_METHOD="GET", PATH_INFO="/v1/boom")
        env["wsgi.input"] = data
        out.append(env)
    return out


def drive(handler: WSGIHandler, calls: list[dict]) -> tuple[float, float]:
    """Run `calls` through the handler as a WSGI server would; returns (wall, process CPU seconds)."""
    statuses: list[str] = []

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        statuses.append(status)

    start, cpu_start = time.perf_counter(), time.process_time()
    for env in calls:
        env["wsgi.input"] = io.BytesIO(env["wsgi.input"])
        body = handler(env, start_response)
        for _ in body:
            pass
        body.close()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert sum(s.startswith("500") for s in statuses) == len(calls) // 10, statuses[:20]
    return elapsed, cpu


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main() -> None:
    n = int(sys.argv[2])
    logging.getLogger("apitally").setLevel(logging.CRITICAL)
    handler = WSGIHandler()
    drive(handler, environs(2000))  # warm-up
    time.sleep(SETTLE_SECONDS)  # both clients' startup work is done before the measured loop
    calls = environs(n)
    elapsed, cpu = drive(handler, calls)
    print(json.dumps({"us": elapsed / n * 1e6, "cpu_us": cpu / n * 1e6, "rss": rss()}), flush=True)


if __name__ == "__main__":
    main()
