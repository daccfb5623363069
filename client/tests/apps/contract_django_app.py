"""Scripted traffic for the Django contract test, runnable by either client's interpreter.

`python contract_django_app.py` configures one Django project in-process (a Django Ninja API, a
Django REST framework viewset and a plain Django view) with whichever `apitally` package the
interpreter has, and sends the same requests through Django's WSGI handler (its test client). The
process then exits: each client sends what is left from its exit hook (the official one once its
loop has written the captured request logs, which the script waits for). The hub comes from
APITALLY_HUB_BASE_URL.
"""

import json
import time

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="contract",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF="__main__",
    INSTALLED_APPS=["rest_framework"],
    MIDDLEWARE=["apitally.django.ApitallyMiddleware"],
    DATABASES={},
    REST_FRAMEWORK={"UNAUTHENTICATED_USER": None, "DEFAULT_AUTHENTICATION_CLASSES": []},
    LOGGING_CONFIG=None,
    APITALLY_MIDDLEWARE={
        "client_id": "5b8b8a5e-9f4e-4c1e-8a55-0e5c2b1c9d7a",
        "env": "contract",
        "app_version": "1.2.3",
        "consumer_callback": "__main__.identify",
        "enable_request_logging": True,
        "log_request_headers": True,
        "log_request_body": True,
        "log_response_body": True,
    },
)
django.setup()

from apitally.django import ApitallyConsumer  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import include, path  # noqa: E402
from ninja import NinjaAPI, Schema  # noqa: E402
from official_wait import wait_for_log_capture  # noqa: E402
from rest_framework import routers, viewsets  # noqa: E402
from rest_framework.response import Response  # noqa: E402


def identify(request):  # the consumer_callback: a consumer named in a header
    return request.headers.get("X-Who")


api = NinjaAPI(urls_namespace="contract")


class Echo(Schema):
    user: str
    password: str
    data: str


@api.get("/items/{item_id}")
def get_item(request, item_id: int):
    if request.headers.get("X-Who") == "alice":
        request.apitally_consumer = ApitallyConsumer("alice", name="Alice", group="Admins")
    return {"id": item_id, "name": "widget", "price": 9.99}


@api.post("/echo")
def echo(request, body: Echo):
    return body.dict()


@api.get("/boom")
def boom(request):
    raise ValueError("kaboom")


@api.get("/never")
def never(request):
    return {}


class WidgetViewSet(viewsets.ViewSet):
    def list(self, request):
        return Response([{"id": 1}, {"id": 2}])

    def retrieve(self, request, pk=None):
        if pk == "0":
            raise KeyError(pk)
        return Response({"id": pk})


def plain(request):  # a plain Django view: not an API view, neither counted nor logged
    return HttpResponse("plain " * 300, content_type="text/plain")


router = routers.SimpleRouter()
router.register("widgets", WidgetViewSet, basename="widget")
urlpatterns = [
    path("api/", api.urls),
    path("drf/", include(router.urls)),
    path("plain/", plain),
]


def main() -> None:
    body = json.dumps({"user": "bob", "password": "hunter2", "data": "d" * 1500})
    bad = json.dumps({"user": "bob", "password": 5})
    traffic = [("GET", f"/api/items/{i}", {"X-Who": "alice"}, None) for i in range(5)]
    traffic += [("POST", "/api/echo", {"X-Who": "bob", "Authorization": "Bearer t"}, body)] * 3
    traffic += [("POST", "/api/echo", {"X-Who": "bob"}, bad)] * 2
    traffic += [("GET", "/api/items/abc", {}, None)]
    traffic += [("GET", "/api/boom", {"X-Who": "carol"}, None)] * 2
    traffic += [("GET", "/api/items/9?token=abc&page=2", {}, None)] * 2
    traffic += [("GET", "/drf/widgets/", {"X-Who": "dave"}, None), ("GET", "/drf/widgets/7/", {}, None)]
    traffic += [("GET", "/drf/widgets/0/", {}, None)]
    traffic += [("GET", "/nowhere", {}, None), ("GET", "/plain/", {"X-Who": "bob"}, None)]
    time.sleep(0.5)  # the official client sends its startup data from its thread
    client = Client(raise_request_exception=False)
    for method, url, headers, data in traffic:
        if data is None:
            client.generic(method, url, headers=headers)
        else:
            client.generic(method, url, data, content_type="application/json", headers=headers)
    wait_for_log_capture()


if __name__ == "__main__":
    main()
