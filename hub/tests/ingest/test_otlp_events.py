"""apitally 1.0 events (scope `apitally`): the startup, consumers, server and validation errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from tallyhub.ingest import batch
from tallyhub.ingest.otlp import logs as otlp_logs
from tallyhub.ingest.otlp.context import Context
from tallyhub.ingest.writer import Writer

from tests.support import otlp_messages as m

T0 = 1_795_651_200
NS = 1_000_000_000
INSTANCE = "3f0c3a52-8d7e-4b1f-9a2c-5e6d7f8a9b0c"
RESOURCE = {
    "service.instance.id": INSTANCE,
    "telemetry.distro.name": "apitally-py",
    "telemetry.distro.version": "1.0.0",
}
STARTUP = {
    "framework": "flask",
    "versions": {"python": "3.11.9", "flask": "3.1.0", "apitally": "1.0.0", "app": "2.4.1"},
    "config": {"capture_logs": True, "mask_request_body": True},
    "paths": [
        {"method": "GET", "path": "/items/<int:item_id>", "summary": "One item"},
        {"method": "post", "path": "/items"},
    ],
    "openapi": json.dumps({"openapi": "3.1.0"}),
}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(name: str, body: Any, at: int = T0 + 10) -> Any:
    return m.log_record(at * NS, body, event_name=name)


def context() -> Context:
    return Context(1, "prod", T0 + 70, "v1/logs", str(uuid.uuid4()))


def export(*records: Any) -> tuple[batch.Batch, int]:
    out = otlp_logs.translate(m.logs(RESOURCE, *records, scope="apitally"), context())
    return out.batch, out.rejected


def test_the_events_are_the_startup_consumers_and_errors(api: Any, db: Any) -> None:
    errors = {
        "method": "GET",
        "path": "/items/<int:item_id>",
        "type": "builtins.KeyError",
        "message": "'item'",
        "stacktrace": "Traceback (most recent call last):\nKeyError: 'item'",
        "counts": [{"consumer": "alice", "count": 2}, {"count": 1}],
        "sentry_event_id": "abc123",
    }
    invalid = {
        "method": "POST",
        "path": "/items",
        "source": "body",
        "field": "price.amount",
        "message": "Input should be a valid number",
        "type": "float_parsing",
        "counts": [{"consumer": "bob", "count": 3}],
    }
    consumer = {"identifier": "alice", "name": "Alice", "group": "Staff", "attributes": {"plan": "pro"}}
    target, rejected = export(
        event("apitally.app.startup", json.dumps(STARTUP)),
        event("apitally.consumer.update", consumer),
        event("apitally.request.server_error", errors),
        event("apitally.request.validation_error", invalid),
        event("apitally.some.future_event", "ignored"),
    )
    assert rejected == 0
    assert Writer(db, clock=lambda: T0 + 70).store(api.app_id, "prod", target)
    (instance,) = api.get("/instances")
    assert (instance["instance_uuid"], instance["client"], instance["versions"], instance["app_version"]) == (
        INSTANCE,
        "apitally-py:flask",
        STARTUP["versions"],
        "2.4.1",
    )
    endpoints = api.get("/endpoints", start=iso(T0), end=iso(T0 + 3600))
    assert sorted((e["method"], e["path"]) for e in endpoints) == [
        ("GET", "/items/<int:item_id>"),
        ("POST", "/items"),
    ]
    consumers = api.get("/consumers", start=iso(T0), end=iso(T0 + 3600))
    assert {(c["identifier"], c["name"], c["group"]) for c in consumers} >= {("alice", "Alice", "Staff")}
    assert next(c for c in consumers if c["identifier"] == "alice")["attributes"] == {"plan": "pro"}
    found = api.get("/errors", start=iso(T0), end=iso(T0 + 3600))
    (server,) = found["server_errors"]
    assert (server["type"], server["msg"], server["traceback"], server["count"], server["consumers"]) == (
        "builtins.KeyError",
        "'item'",
        "Traceback (most recent call last):\nKeyError: 'item'",
        3,
        ["alice"],
    )
    (validation,) = found["validation_errors"]
    assert (validation["loc"], validation["msg"], validation["type"], validation["count"]) == (
        ["body", "price", "amount"],
        "Input should be a valid number",
        "float_parsing",
        3,
    )


def test_consumer_updates_set_and_delete_attributes_key_by_key(api: Any, db: Any) -> None:
    writer = Writer(db, clock=lambda: T0 + 70)
    first = {
        "identifier": "alice",
        "name": "Alice",
        "attributes": {"plan": "pro", "region": "eu", "seats": "3"},
    }
    assert writer.store(api.app_id, "prod", export(event("apitally.consumer.update", first))[0])
    # A later update (two in one export: the later wins) changes one key, deletes one, keeps the third.
    target, rejected = export(
        event("apitally.consumer.update", {"identifier": "alice", "attributes": {"plan": "team"}}),
        event(
            "apitally.consumer.update", {"identifier": "alice", "attributes": {"plan": "max", "region": None}}
        ),
        event("apitally.consumer.update", {"identifier": "bob", "group": "Staff"}),
    )
    assert rejected == 0
    assert writer.store(api.app_id, "prod", target)
    listed = {c["identifier"]: c for c in api.get("/consumers", start=iso(T0), end=iso(T0 + 3600))}
    assert (listed["alice"]["name"], listed["alice"]["attributes"]) == (
        "Alice",
        {"plan": "max", "seats": "3"},
    )
    assert (listed["bob"]["group"], listed["bob"]["attributes"]) == ("Staff", {})


def test_consumer_attributes_beyond_the_clients_limits_refuse_the_event() -> None:
    _, rejected = export(
        event(
            "apitally.consumer.update", {"identifier": "a", "attributes": {f"k{i}": "v" for i in range(11)}}
        ),
        event("apitally.consumer.update", {"identifier": "b", "attributes": {"": "empty key"}}),
        event("apitally.consumer.update", {"identifier": "c", "attributes": {"n": 3}}),
        event("apitally.consumer.update", {"identifier": "d", "attributes": ["not", "a", "map"]}),
        event("apitally.consumer.update", {"identifier": "e", "attributes": {"ok": "x" * 2000}}),
    )
    assert rejected == 4


def test_an_event_whose_body_is_not_its_shape_is_refused_and_counted() -> None:
    _, rejected = export(
        event("apitally.app.startup", "{not json"),
        event("apitally.consumer.update", {"name": "no identifier"}),
        event(
            "apitally.request.server_error",
            {"method": "GET", "path": "/", "type": "E", "counts": [{"count": -1}]},
        ),
        event("apitally.request.validation_error", "a string"),
        event("apitally.consumer.update", {"identifier": "ok"}),
    )
    assert rejected == 4


def test_app_logs_without_a_trace_belong_to_no_request() -> None:
    out = otlp_logs.translate(
        m.logs(RESOURCE, m.log_record(T0 * NS, "startup done", severity="INFO")), context()
    )
    assert (out.batch.trace_items, out.rejected) == ([], 0)
