"""The shared e2e API (tests/e2e/mix.py, DJANGO) in Django Ninja, instrumented with this project's
client as the official Django guide shows: the middleware in MIDDLEWARE, its options in the
APITALLY_MIDDLEWARE setting, the consumer from a `consumer_callback`.

Run as `python ours_django.py`: it execs gunicorn (two sync workers) serving `ours_django:application`.
Configuration comes from the environment: APITALLY_HUB_BASE_URL (read by the client), E2E_CLIENT_ID,
E2E_ENV, E2E_PORT, and E2E_REQUEST_LOGGING=1 for request logging. The consumer of a request is taken
from the X-Consumer-Id / -Name / -Group headers. On SIGTERM gunicorn stops its workers gracefully:
each client's exit hook sends the last sync.
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":  # the launcher: nothing of Django is loaded in this process
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{os.environ['E2E_PORT']}",
    ]
    os.execv(sys.executable, [*argv, "--chdir", str(Path(__file__).parent), "ours_django:application"])

import time

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="e2e",
    ALLOWED_HOSTS=["*"],
    APPEND_SLASH=False,
    ROOT_URLCONF="ours_django",
    INSTALLED_APPS=[],
    # CommonMiddleware sets the Content-Length the test compares response sizes with.
    MIDDLEWARE=["apitally.django.ApitallyMiddleware", "django.middleware.common.CommonMiddleware"],
    DATABASES={},
    LOGGING_CONFIG=None,
    APITALLY_MIDDLEWARE={
        "client_id": os.environ["E2E_CLIENT_ID"],
        "env": os.environ["E2E_ENV"],
        "app_version": "1.0.0-e2e",
        "consumer_callback": "ours_django.identify_consumer",
        "enable_request_logging": os.environ.get("E2E_REQUEST_LOGGING") == "1",
        "log_request_headers": True,
    },
)
django.setup()

from apitally.django import ApitallyConsumer  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from ninja import Field, NinjaAPI, Schema  # noqa: E402
from ninja.errors import HttpError  # noqa: E402


class PaymentDeclinedError(Exception):
    """Raised by the payment route so that server errors carry an application exception type."""


class NewItem(Schema):
    name: str = Field(min_length=1)


def identify_consumer(request):
    identifier = request.headers.get("X-Consumer-Id")
    if not identifier:
        return None
    name, group = request.headers.get("X-Consumer-Name"), request.headers.get("X-Consumer-Group")
    return ApitallyConsumer(identifier, name=name, group=group)


api = NinjaAPI()


@api.get("/items/{item_id}")
def get_item(request, item_id: int):
    if item_id >= 1000:
        raise HttpError(404, "no such item")
    return {"id": item_id, "name": f"item-{item_id}"}


@api.post("/items")
def create_item(request, item: NewItem):
    return {"id": 1, "name": item.name}


@api.put("/items/{item_id}")
def update_item(request, item_id: int):
    return {"id": item_id, "updated": len(request.body)}


@api.delete("/items/{item_id}")
def delete_item(request, item_id: int):  # never called: the endpoint is known from startup only
    return {"deleted": item_id}


@api.get("/boom")
def boom(request):
    raise ValueError("kaboom")


@api.post("/orders/{order_id}/pay")
def pay(request, order_id: str):
    raise PaymentDeclinedError(f"card declined for order {order_id}")


@api.get("/slow")
def slow(request):
    time.sleep(0.12)
    return {"slept_ms": 120}


urlpatterns = [path("", api.urls)]
application = get_wsgi_application()
