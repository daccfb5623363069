"""apitally.django in a Django project (a Ninja API, a REST framework viewset, plain views), driven
through Django's WSGI handler (its test client) against the recording hub."""

from __future__ import annotations

import base64
import json
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import django
import pytest
from apitally import _django_routes
from apitally.client import guard
from apitally.client.masking import BODY_TOO_LARGE
from apitally.django import ApitallyConsumer, ApitallyMiddleware
from django.conf import settings
from opentelemetry import trace

from .conftest import CLIENT_ID, RecordingHub

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["rest_framework"],
        MIDDLEWARE=["apitally.django.ApitallyMiddleware"],
        DATABASES={},
        REST_FRAMEWORK={"UNAUTHENTICATED_USER": None, "DEFAULT_AUTHENTICATION_CLASSES": []},
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path, re_path
from django.views import View
from ninja import NinjaAPI, Schema
from rest_framework import routers, viewsets
from rest_framework.response import Response

api = NinjaAPI(urls_namespace="tests")


class NewItem(Schema):
    name: str
    price: float


@api.get("/items/{item_id}")
def get_item(request: HttpRequest, item_id: int) -> dict[str, Any]:
    who = request.headers.get("X-Who")
    if who == "alice":
        request.apitally_consumer = ApitallyConsumer("alice", name="Alice", group="Admins")  # type: ignore[attr-defined]
    elif who == "legacy":
        request.consumer_identifier = "legacy-1"  # type: ignore[attr-defined]
    elif who:
        request.apitally_consumer = who  # type: ignore[attr-defined]
    return {"id": item_id}


@api.post("/items")
def create_item(request: HttpRequest, item: NewItem) -> dict[str, Any]:
    return {"name": item.name, "secret": "s3cret"}


@api.get("/boom")
def boom(request: HttpRequest) -> dict[str, Any]:
    raise ValueError("kaboom")


@api.get("/orders/{order_id}")
def get_order(request: HttpRequest, order_id: int) -> dict[str, Any]:
    logging.getLogger("shop.orders").warning("order %s looked up", order_id)
    with trace.get_tracer("shop").start_as_current_span("db.query") as span:
        context = span.get_span_context()
        return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


@api.delete("/items/{item_id}")
def delete_item(request: HttpRequest, item_id: int) -> dict[str, Any]:  # never called
    return {}


class WidgetViewSet(viewsets.ViewSet):
    def list(self, request: Any) -> Response:
        return Response([{"id": 1}])

    def retrieve(self, request: Any, pk: str | None = None) -> Response:
        return Response({"id": pk})


class PlainView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("plain")


def plain(request: HttpRequest, slug: str) -> HttpResponse:
    return HttpResponse(slug)


def by_header(request: HttpRequest) -> str | None:
    if request.headers.get("X-Callback") == "fail":
        raise LookupError("no such consumer")
    return request.headers.get("X-Callback")


router = routers.SimpleRouter()
router.register("widgets", WidgetViewSet, basename="widget")
urlpatterns = [
    path("api/", api.urls),
    path("drf/", include(router.urls)),
    path("plain/", PlainView.as_view()),
    re_path(r"^pages/(?P<slug>[a-z]+)/$", plain),
]


@pytest.fixture(autouse=True)
def fresh_config() -> Iterator[None]:
    """Each test configures the middleware anew (the setting is read once per process otherwise)."""
    ApitallyMiddleware.config = None
    ApitallyMiddleware._client = None
    yield
    ApitallyMiddleware.config = None
    ApitallyMiddleware._client = None


def configure(hub: RecordingHub, **options: Any) -> Client:
    ApitallyMiddleware.configure(client_id=CLIENT_ID, env="test", hub_url=hub.url, **options)
    return Client(raise_request_exception=False)


def flush() -> None:
    """The client's final flush: startup, the last sync and the request logs."""
    assert ApitallyMiddleware._client is not None
    ApitallyMiddleware._client[1].shutdown(timeout=5.0)


def counts(hub: RecordingHub) -> dict[tuple[Any, ...], int]:
    out: dict[tuple[Any, ...], int] = {}
    for r in hub.requests():
        key = (r["consumer"], r["method"], r["path"], r["status_code"])
        out[key] = out.get(key, 0) + r["request_count"]
    return out


def test_api_routes_are_counted_by_template_other_views_not(hub: RecordingHub) -> None:
    client = configure(hub)
    for i in range(3):
        client.get(f"/api/items/{i}")
    client.get("/drf/widgets/")
    client.get("/drf/widgets/5/")
    client.get("/plain/")  # a Django view: not counted without include_django_views
    client.get("/pages/about/")
    client.get("/nowhere/")  # no route
    client.options("/api/items/1")  # never counted
    flush()
    assert counts(hub) == {
        (None, "GET", "/api/items/{item_id}", 200): 3,
        (None, "GET", "/drf/widgets/", 200): 1,
        (None, "GET", "/drf/widgets/{pk}/", 200): 1,
    }
    sizes = {r["path"]: r["response_size_sum"] for r in hub.requests()}
    assert sizes["/api/items/{item_id}"] == 3 * len(b'{"id": 0}')


def test_include_django_views_counts_plain_views_too(hub: RecordingHub) -> None:
    client = configure(hub, include_django_views=True)
    client.get("/plain/")
    client.get("/pages/about/")
    client.get("/api/items/1")
    flush()
    assert set(counts(hub)) == {
        (None, "GET", "/plain/", 200),
        (None, "GET", "/pages/{slug}/", 200),
        (None, "GET", "/api/items/{item_id}", 200),
    }
    (startup,) = hub.bodies("startup")
    assert {"method": "GET", "path": "/plain/"} in startup["paths"]


def test_consumers_the_official_ways(hub: RecordingHub) -> None:
    client = configure(hub, consumer_callback=f"{__name__}.by_header")
    client.get("/api/items/1", headers={"X-Who": "alice"})
    client.get("/api/items/2", headers={"X-Who": "bob"})
    client.get("/api/items/3", headers={"X-Callback": "carol"})
    client.get("/api/items/4", headers={"X-Who": "x" * 300})
    with pytest.warns(DeprecationWarning, match="apitally_consumer"):
        client.get("/api/items/5", headers={"X-Who": "legacy"})
    flush()
    consumers = {key[0] for key in counts(hub)}
    assert consumers == {"alice", "bob", "carol", "x" * 128, "legacy-1"}
    (alice,) = [c for s in hub.bodies("sync") for c in s["consumers"]]
    assert alice == {"identifier": "alice", "name": "Alice", "group": "Admins"}


def test_server_errors_and_ninja_validation_errors(hub: RecordingHub) -> None:
    client = configure(hub)
    assert client.get("/api/boom").status_code == 500
    response = client.post("/api/items", {"name": "x", "price": "cheap"}, content_type="application/json")
    assert response.status_code == 422
    flush()
    (error,) = [e for s in hub.bodies("sync") for e in s["server_errors"]]
    assert (error["path"], error["type"], error["msg"]) == ("/api/boom", "builtins.ValueError", "kaboom")
    assert error["traceback"].startswith("Traceback (most recent call last):")
    (validation,) = [e for s in hub.bodies("sync") for e in s["validation_errors"]]
    assert validation["path"] == "/api/items" and validation["loc"] == ["body", "item", "price"]
    assert "cheap" not in json.dumps(validation)  # never the invalid value


def test_startup_lists_every_route_with_the_openapi_document(hub: RecordingHub) -> None:
    configure(hub, app_version="2.0", urlconf=[__name__])
    client = Client()
    client.get("/api/items/1")
    flush()
    (startup,) = hub.bodies("startup")
    paths = {(p["method"].upper(), p["path"]) for p in startup["paths"]}
    assert ("DELETE", "/api/items/{item_id}") in paths  # never called
    assert ("GET", "/drf/widgets/{pk}/") in paths
    assert startup["client"] == "python:django"
    assert startup["versions"]["app"] == "2.0" and "django" in startup["versions"]
    assert startup["openapi"] is None  # Ninja and REST framework both have one: neither is sent


def test_openapi_document_of_a_ninja_only_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_django_routes, "_drf_schema", lambda urlconfs: None)
    document = _django_routes.openapi_document([None])
    assert document is not None
    assert "/api/items/{item_id}" in json.loads(document)["paths"]


def test_request_logging_headers_bodies_and_masking(hub: RecordingHub) -> None:
    client = configure(
        hub,
        enable_request_logging=True,
        log_request_headers=True,
        log_request_body=True,
        log_response_body=True,
        mask_body_fields=["secret"],
    )
    client.post(
        "/api/items?token=abc",
        {"name": "widget", "price": 1.5},
        content_type="application/json",
        headers={"Authorization": "Bearer t", "X-Who": "bob"},
    )
    client.post("/api/items", "x" * 60_000, content_type="application/json")
    client.get("/nowhere/")  # no API route: not logged, as with the official client
    flush()
    lines = sorted(hub.log_lines(), key=lambda line: line["request"].get("size") or 0)
    assert len(lines) == 2
    first = lines[0]
    assert first["request"]["url"] == "http://testserver/api/items?token=" + "%2A" * 6
    assert first["request"]["path"] == "/api/items"
    headers = dict(first["request"]["headers"])
    assert headers["Authorization"] == "******" and headers["Content-Type"] == "application/json"
    assert json.loads(base64.b64decode(first["request"]["body"])) == {"name": "widget", "price": 1.5}
    assert json.loads(base64.b64decode(first["response"]["body"]))["secret"] == "******"
    assert base64.b64decode(lines[1]["request"]["body"]) == BODY_TOO_LARGE


def test_capture_logs_and_traces_attach_the_views_records_and_spans(hub: RecordingHub) -> None:
    client = configure(hub, enable_request_logging=True, capture_logs=True, capture_traces=True)
    answer = client.get("/api/orders/7").json()
    flush()
    (line,) = hub.log_lines()
    assert [(r["logger"], r["level"], r["message"]) for r in line["logs"]] == [
        ("shop.orders", "WARNING", "order 7 looked up")
    ]
    assert line["trace_id"] == answer["trace_id"]
    spans = {span["name"]: span for span in line["spans"]}
    assert spans["db.query"]["span_id"] == answer["span_id"]
    root = spans["tests:get_order"]  # the client's root span, named by the URL's view name
    assert spans["db.query"]["parent_span_id"] == root["span_id"] and root["parent_span_id"] is None


def test_a_failing_consumer_callback_leaves_the_request_counted(
    hub: RecordingHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "STRICT", False)
    client = configure(hub, consumer_callback=f"{__name__}.by_header")
    assert client.get("/api/items/1", headers={"X-Callback": "fail"}).json() == {"id": 1}
    flush()
    assert counts(hub) == {(None, "GET", "/api/items/{item_id}", 200): 1}


def test_a_bad_client_id_disables_the_client_and_the_app_runs_on(hub: RecordingHub) -> None:
    ApitallyMiddleware.configure(client_id="not-a-uuid", hub_url=hub.url)
    assert Client().get("/api/items/1").json() == {"id": 1}


def test_a_setting_without_client_id_disables_the_client(
    hub: RecordingHub, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "APITALLY_MIDDLEWARE", {"env": "prod"}, raising=False)
        assert Client().get("/api/items/1").json() == {"id": 1}
    assert "APITALLY_MIDDLEWARE" in caplog.text


def test_a_fault_of_the_client_never_reaches_the_app(
    hub: RecordingHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "STRICT", False)

    def broken(route: str) -> str:
        raise RuntimeError("client bug")

    monkeypatch.setattr(_django_routes, "route_template", broken)
    client = configure(hub)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        response = client.get("/api/items/7")
    assert response.status_code == 200 and response.json() == {"id": 7}
