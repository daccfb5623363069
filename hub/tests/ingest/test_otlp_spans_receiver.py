"""Traces and logs through POST /v1/traces and /v1/logs (OTLP/JSON built here, and protobuf), with metrics of
the same plain OpenTelemetry instance: the request logs and traces read back, no request counted twice."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from tallyhub.accounts.tokens import create_token
from tallyhub.app import create_app
from tallyhub.settings import load_settings
from tallyhub.storage import apps, write_tokens
from tallyhub.storage.database import Database

from tests.support import otlp_messages as m
from tests.support.otlp import Requests, otel_flask_export

T0 = 1_795_715_100  # a minute's start
NS = 1_000_000_000
INSTANCE = "9a8b7c6d-0000-4000-8000-0000000000aa"
TRACE = "0af7651916cd43dd8448eb211c80319c"
SERVER_SPAN, CHILD_SPAN = "b7ad6b7169203331", "00f067aa0ba902b7"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Hub:
    """The hub app in-process (httpx's ASGI transport), with one app, its write token and a read-API token."""

    def __init__(self, db: Database) -> None:
        self.app = create_app(load_settings({}), db, run_maintenance=False)
        self.app_id = apps.create_app(db, "Shop", ("prod",)).id
        with db.write() as conn:
            self.token = write_tokens.create(conn, self.app_id, time.time(), 0)
        self.read_token = create_token(db, "tests")

    def post(
        self, signal: str, content: bytes, content_type: str = "application/x-protobuf"
    ) -> httpx.Response:
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {self.token}"}

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                return await client.post(f"/v1/{signal}", content=content, headers=headers)

        return asyncio.run(send())

    def read(self, what: str, **params: Any) -> Any:
        with TestClient(self.app) as client:
            response = client.get(
                f"/api/v1/apps/{self.app_id}/{what}",
                params={"start": iso(T0 - 3600), "end": iso(T0 + 3600), **params},
                headers={"Authorization": f"Bearer {self.read_token}"},
            )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def hub(db: Database) -> Hub:
    return Hub(db)


def json_traces() -> bytes:
    """An OTLP/JSON trace export as the spec spells it: hex ids, int64 as strings, enums as numbers."""
    start = (T0 + 3) * NS
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": "service.name", "value": {"stringValue": "shop"}},
                            {"key": "service.instance.id", "value": {"stringValue": INSTANCE}},
                        ]
                    },
                    "scopeSpans": [
                        {
                            "scope": {"name": "@opentelemetry/instrumentation-http"},
                            "spans": [
                                {
                                    "traceId": TRACE,
                                    "spanId": SERVER_SPAN,
                                    "name": "GET /items/:id",
                                    "kind": 2,
                                    "startTimeUnixNano": str(start),
                                    "endTimeUnixNano": str(start + 12_000_000),
                                    "attributes": [
                                        {"key": "http.request.method", "value": {"stringValue": "GET"}},
                                        {"key": "url.path", "value": {"stringValue": "/items/3"}},
                                        {"key": "url.scheme", "value": {"stringValue": "http"}},
                                        {"key": "server.address", "value": {"stringValue": "api.test"}},
                                        {"key": "http.route", "value": {"stringValue": "/items/:id"}},
                                        {"key": "http.response.status_code", "value": {"intValue": "200"}},
                                        {"key": "enduser.id", "value": {"stringValue": "carol"}},
                                    ],
                                    "status": {},
                                },
                                {
                                    "traceId": TRACE,
                                    "spanId": CHILD_SPAN,
                                    "parentSpanId": SERVER_SPAN,
                                    "name": "request handler - /items/:id",
                                    "kind": 1,
                                    "startTimeUnixNano": str(start + 1_000_000),
                                    "endTimeUnixNano": str(start + 2_000_000),
                                    "attributes": [
                                        {"key": "express.type", "value": {"stringValue": "request_handler"}}
                                    ],
                                    "status": {"code": 1},
                                },
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()


def json_logs() -> bytes:
    return json.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [{"key": "service.instance.id", "value": {"stringValue": INSTANCE}}]
                    },
                    "scopeLogs": [
                        {
                            "scope": {"name": "shop"},
                            "logRecords": [
                                {
                                    "timeUnixNano": str((T0 + 3) * NS + 1_500_000),
                                    "severityNumber": 9,
                                    "body": {"stringValue": "loading item 3"},
                                    "traceId": TRACE,
                                    "spanId": CHILD_SPAN,
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()


def test_otlp_json_traces_and_logs_become_a_request_log_with_its_trace(hub: Hub) -> None:
    assert hub.post("logs", json_logs(), "application/json").status_code == 200  # before its span
    response = hub.post("traces", json_traces(), "application/json")
    assert response.status_code == 200, response.content
    assert response.json() == {}  # nothing refused: no partial_success
    (item,) = hub.read("request-logs")["items"]
    assert (item["method"], item["path"], item["url"], item["status_code"], item["consumer"]) == (
        "GET",
        "/items/:id",
        "http://api.test/items/3",
        200,
        "carol",
    )
    assert (item["trace_id"], item["response_time"]) == (TRACE, 0.012)
    (span,) = item["details"]["spans"]
    assert span == {
        "span_id": CHILD_SPAN,
        "parent_span_id": SERVER_SPAN,
        "name": "request handler - /items/:id",
        "kind": "INTERNAL",
        "start_time": (T0 + 3) * NS + 1_000_000,
        "end_time": (T0 + 3) * NS + 2_000_000,
        "status": "OK",
        "attributes": {"express.type": "request_handler"},
    }
    assert item["details"]["logs"] == [
        {
            "timestamp": ((T0 + 3) * NS + 1_500_000) / 1e9,
            "logger": "shop",
            "level": "INFO",
            "message": "loading item 3",
        }
    ]
    assert hub.read("traffic")["totals"]["requests"] == 1  # traces only: the span is the request


def spans_export(count: int) -> bytes:
    spans = [
        m.span(
            f"{n + 1:032x}",
            f"{n + 1:016x}",
            "GET",
            (T0 + 1) * NS + n,
            2_000_000,
            kind=m.SERVER,
            attrs={
                "http.method": "GET",
                "http.target": "/items",
                "http.route": "/items",
                "http.status_code": 200,
            },
        )
        for n in range(count)
    ]
    resource = {"service.name": "flask-app", "service.instance.id": INSTANCE}
    return m.traces(resource, *spans).SerializeToString()


def metrics_export(count: int) -> bytes:
    export = otel_flask_export(
        [Requests("GET", "/items", 200, [0.002] * count)], INSTANCE, (T0 + 30) * NS, (T0 - 60) * NS
    )
    return export.SerializeToString()


@pytest.mark.parametrize("first", ["traces", "metrics"])
def test_a_plain_sdk_exporting_traces_and_cumulative_metrics_counts_each_request_once(
    hub: Hub, first: str
) -> None:
    exports = [("traces", spans_export(4)), ("metrics", metrics_export(4))]
    for signal, body in exports if first == "traces" else exports[::-1]:
        assert hub.post(signal, body).status_code == 200
    assert hub.read("traffic")["totals"]["requests"] == 4
    assert len(hub.read("request-logs")["items"]) == 4
