"""OTLP spans and log records into request logs with their traces, read back through the read API."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from tallyhub.ingest.otlp import logs as otlp_logs
from tallyhub.ingest.otlp import traces as otlp_traces
from tallyhub.ingest.otlp.context import Context, Translated
from tallyhub.ingest.writer import Writer

from tests.support import otlp_messages as m

T0 = 1_795_651_200  # a minute's start
NS = 1_000_000_000
TRACE = "5b8efff798038103d269b633813fc60c"
SERVER_SPAN, DB_SPAN, RENDER_SPAN, NESTED = (
    "eee19b7ec3c1b174",
    "eee19b7ec3c1b173",
    "eee19b7ec3c1b172",
    "0102030405060708",
)
RESOURCE = {"service.name": "shop", "service.instance.id": "6c1d2f8e-3b4a-4c5d-8e9f-0a1b2c3d4e5f"}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def context(app_id: int, kind: str = "v1/traces") -> Context:
    """A new export's context, as the receiver makes it (env prod, a key of its own)."""
    return Context(app_id, "prod", T0 + 70, kind, str(uuid.uuid4()))


def store(writer: Writer, app_id: int, translated: Translated) -> bool:
    return writer.store(app_id, "prod", translated.batch)


def logs_of(api: Any) -> list[dict[str, Any]]:
    return api.get("/request-logs", start=iso(T0 - 60), end=iso(T0 + 3600))["items"]


def server_span(**attrs: Any) -> Any:
    return m.span(
        TRACE,
        SERVER_SPAN,
        "GET /items/{id}",
        T0 * NS + 5 * NS,
        42_000_000,
        kind=m.SERVER,
        attrs=attrs,
        status=m.ERROR,
        events=[
            (
                "exception",
                T0 * NS + 5 * NS + 40_000_000,
                {
                    "exception.type": "ValueError",
                    "exception.message": "no such item",
                    "exception.stacktrace": 'Traceback (most recent call last):\n  File "app.py"\nValueError',
                    "exception.escaped": True,
                },
            )
        ],
    )


STABLE = {
    "http.request.method": "GET",
    "url.scheme": "https",
    "url.path": "/items/7",
    "url.query": "q=shoes&api_key=s3cret",
    "server.address": "shop.test",
    "http.route": "/items/{id}",
    "http.response.status_code": 500,
    "client.address": "203.0.113.9",
    "user_agent.original": "curl/8.5",
    "apitally.consumer.identifier": "alice",
    "http.request.header.content-type": ["application/json"],
    "http.request.header.authorization": ["[REDACTED]"],
    "http.response.header.content-type": ["application/json"],
    "http.request.body.size": 13,
    "http.response.body.size": 2048,
    "apitally.request.body": '{"name":"a"}',
    "apitally.response.body": b"[BODY_TOO_LARGE]",
    "apitally.exception.sentry_event_id": "9f2c",
}


def child_spans() -> Any:
    return (
        m.span(
            TRACE,
            DB_SPAN,
            "SELECT items",
            T0 * NS + 5 * NS + 1_000_000,
            10_000_000,
            parent=SERVER_SPAN,
            kind=m.CLIENT,
            attrs={"db.system": "sqlite", "db.statement": "SELECT * FROM items WHERE id = ?"},
        ),
        m.span(TRACE, RENDER_SPAN, "render", T0 * NS + 5 * NS + 20_000_000, 5_000_000, parent=DB_SPAN),
    )


def test_a_server_span_is_a_request_log_and_its_children_join_it_from_any_export(api: Any, db: Any) -> None:
    writer = Writer(db, clock=lambda: T0 + 70)
    db_span, render = child_spans()
    # A grandchild first, then the SERVER span, then its direct child, then a log: four exports.
    assert store(writer, api.app_id, otlp_traces.translate(m.traces(RESOURCE, render), context(api.app_id)))
    assert store(
        writer,
        api.app_id,
        otlp_traces.translate(m.traces(RESOURCE, server_span(**STABLE)), context(api.app_id)),
    )
    assert store(writer, api.app_id, otlp_traces.translate(m.traces(RESOURCE, db_span), context(api.app_id)))
    record = m.log_record(
        T0 * NS + 5 * NS + 30_000_000,
        "item 7 not found",
        trace=TRACE,
        span_id=RENDER_SPAN,
        severity="WARNING",
        attrs={"code.file.path": "app.py", "code.line.number": 12},
    )
    assert store(
        writer,
        api.app_id,
        otlp_logs.translate(m.logs(RESOURCE, record, scope="shop.items"), context(api.app_id, "v1/logs")),
    )
    (item,) = logs_of(api)
    assert {k: v for k, v in item.items() if k not in ("id", "details")} == {
        "uuid": item["uuid"],
        "env": "prod",
        "timestamp": iso(T0 + 5),
        "method": "GET",
        "path": "/items/{id}",
        "url": "https://shop.test/items/7?q=shoes&api_key=[REDACTED]",
        "status_code": 500,
        "response_time": 0.042,
        "consumer": "alice",
        "request_size": 13,
        "response_size": 2048,
        "trace_id": TRACE,
    }
    assert item["details"] == {
        "request_headers": [
            ["content-type", "application/json"],
            ["authorization", "[REDACTED]"],
            ["user-agent", "curl/8.5"],
        ],
        "request_body": b64('{"name":"a"}'),
        "response_headers": [["content-type", "application/json"]],
        "response_body": b64(b"[BODY_TOO_LARGE]"),
        "exception": {
            "type": "ValueError",
            "message": "no such item",
            "traceback": 'Traceback (most recent call last):\n  File "app.py"\nValueError',
            "sentry_event_id": "9f2c",
        },
        "client_ip": "203.0.113.9",
        "logs": [
            {
                "timestamp": (T0 * NS + 5 * NS + 30_000_000) / 1e9,  # as exact as nanoseconds in a float
                "logger": "shop.items",
                "level": "WARNING",
                "message": "item 7 not found",
                "file": "app.py",
                "line": 12,
            }
        ],
        "spans": [
            {
                "span_id": DB_SPAN,
                "parent_span_id": SERVER_SPAN,
                "name": "SELECT items",
                "kind": "CLIENT",
                "start_time": T0 * NS + 5 * NS + 1_000_000,
                "end_time": T0 * NS + 5 * NS + 11_000_000,
                "status": "UNSET",
                "attributes": {"db.system": "sqlite", "db.statement": "SELECT * FROM items WHERE id = ?"},
            },
            {
                "span_id": RENDER_SPAN,
                "parent_span_id": DB_SPAN,
                "name": "render",
                "kind": "INTERNAL",
                "start_time": T0 * NS + 5 * NS + 20_000_000,
                "end_time": T0 * NS + 5 * NS + 25_000_000,
                "status": "UNSET",
                "attributes": {},
            },
        ],
    }


def test_the_older_semantic_conventions_give_the_same_request_log(api: Any, db: Any) -> None:
    old = {
        "http.method": "post",
        "http.url": "http://shop.test:8080/items?token=abc&page=2",
        "http.target": "/items?token=abc&page=2",
        "http.route": "/items",
        "http.status_code": 201,
        "http.user_agent": "python-requests/2.32",
        "net.sock.peer.addr": "10.0.0.2",
        "enduser.id": "bob",
        "http.request_content_length": 5,
    }
    span = m.span(TRACE, SERVER_SPAN, "POST /items", T0 * NS, 3_000_000, kind=m.SERVER, attrs=old)
    assert store(
        Writer(db, clock=lambda: T0 + 70),
        api.app_id,
        otlp_traces.translate(m.traces(RESOURCE, span), context(api.app_id)),
    )
    (item,) = logs_of(api)
    assert (item["method"], item["path"], item["url"], item["status_code"], item["consumer"]) == (
        "POST",
        "/items",
        "http://shop.test:8080/items?token=[REDACTED]&page=2",
        201,
        "bob",
    )
    assert (item["request_size"], item["response_time"]) == (5, 0.003)
    assert item["details"]["client_ip"] == "10.0.0.2"
    assert item["details"]["request_headers"] == [["user-agent", "python-requests/2.32"]]
    assert (item["details"]["spans"], item["details"]["logs"], item["details"]["exception"]) == ([], [], None)


def test_a_span_exported_twice_is_one_request_log_and_a_nested_server_span_is_its_own(
    api: Any, db: Any
) -> None:
    writer = Writer(db, clock=lambda: T0 + 70)
    db_span, _ = child_spans()
    # The same app called itself: a second SERVER span below the first one's child, with a child of its own.
    nested = m.span(
        TRACE,
        NESTED,
        "GET /stock",
        T0 * NS + 5 * NS + 2_000_000,
        1_000_000,
        parent=DB_SPAN,
        kind=m.SERVER,
        attrs={"http.request.method": "GET", "http.route": "/stock", "http.response.status_code": 200},
    )
    below_nested = m.span(TRACE, "1112131415161718", "count", T0 * NS + 5 * NS + 2_100_000, 10, parent=NESTED)
    first = otlp_traces.translate(
        m.traces(RESOURCE, server_span(**STABLE), db_span, nested, below_nested), context(api.app_id)
    )
    assert store(writer, api.app_id, first)
    assert store(
        writer,
        api.app_id,
        otlp_traces.translate(m.traces(RESOURCE, server_span(**STABLE)), context(api.app_id)),
    )
    outer, inner = sorted(logs_of(api), key=lambda i: i["timestamp"] + i["path"], reverse=True)
    assert (outer["path"], [s["name"] for s in outer["details"]["spans"]]) == (
        "/items/{id}",
        ["SELECT items"],
    )
    assert (inner["path"], [s["name"] for s in inner["details"]["spans"]]) == ("/stock", ["count"])
    assert len(logs_of(api)) == 2


def test_spans_without_a_status_or_with_bad_ids_are_refused_and_counted() -> None:
    no_status = m.span(TRACE, SERVER_SPAN, "GET", T0 * NS, 1, kind=m.SERVER, attrs={"http.method": "GET"})
    bad_id = m.span(TRACE, SERVER_SPAN, "x", T0 * NS, 1)
    bad_id.span_id = b"\x01\x02"
    grpc = m.span(
        TRACE, DB_SPAN, "grpc.Health/Check", T0 * NS, 1, kind=m.SERVER, attrs={"rpc.system": "grpc"}
    )
    other_env = m.traces({**RESOURCE, "deployment.environment.name": "dev"}, grpc)
    out = otlp_traces.translate(m.traces(RESOURCE, no_status, bad_id, grpc), context(1))
    assert (out.rejected, out.batch.request_logs, len(out.batch.trace_items)) == (2, [], 1)
    assert out.message == (
        "an HTTP SERVER span without a response status code; "
        "a span without a 16-byte trace id and an 8-byte span id"
    )
    refused = otlp_traces.translate(other_env, context(1))
    assert (refused.rejected, refused.batch.trace_items, refused.message) == (
        1,
        [],
        "a resource of another env",
    )


def test_the_client_address_is_stored_as_a_filterable_column_cut_to_its_length(api: Any, db: Any) -> None:
    from tallyhub.ingest.batch import CLIENT_IP_CHARS

    long_address = "fe80::1%" + "x" * 100  # an attribute any SDK may set: cut, as the column holds it
    spans = [
        m.span(
            TRACE,
            SERVER_SPAN,
            "GET /a",
            T0 * NS,
            1_000_000,
            kind=m.SERVER,
            attrs={**STABLE, "client.address": "203.0.113.9"},
        ),
        m.span(
            TRACE,
            NESTED,
            "GET /b",
            T0 * NS + NS,
            1_000_000,
            kind=m.SERVER,
            attrs={**STABLE, "client.address": long_address},
        ),
    ]
    assert store(
        Writer(db, clock=lambda: T0 + 70),
        api.app_id,
        otlp_traces.translate(m.traces(RESOURCE, *spans), context(api.app_id)),
    )
    cut = long_address[:CLIENT_IP_CHARS]
    assert sorted(i["details"]["client_ip"] for i in logs_of(api)) == sorted(["203.0.113.9", cut])
    for address in ("203.0.113.9", cut):
        (found,) = api.get("/request-logs", client_ip=address, start=iso(T0 - 60), end=iso(T0 + 3600))[
            "items"
        ]
        assert found["details"]["client_ip"] == address
