"""POST /v1/traces|logs|metrics against the real app and a real database on each engine (PROTOCOL-OTLP.md)."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from tallyhub.storage import write_tokens
from tallyhub.storage.database import Database
from tallyhub.storage.tables import (
    LEVEL_CONSUMER,
    LEVEL_TOTAL,
    consumers,
    endpoints,
    envs,
    instances,
    metrics,
)

from tests.support.otlp import Requests, apitally_export
from tests.support.otlp_hub import MINUTE_NS, PROTOBUF, Hub, totals


@pytest.fixture
def hub(db: Database) -> Hub:
    """The in-process hub (this folder's, not the conftest's hub process)."""
    return Hub(db)


def shop_export(
    instance: str = "3f1e8f3a-0000-4000-8000-000000000001", time_ns: int = MINUTE_NS + 10**9
) -> Any:
    return apitally_export(
        [
            Requests("GET", "/items/{id}", 200, [0.012, 0.3, 0.05], "alice", response_sizes=[100, 2000, 30]),
            Requests("GET", "/items/{id}", 404, [0.002]),
            Requests("POST", "/items", 201, [0.120, 0.125], "bob", request_sizes=[1500, 2500]),
            Requests("GET", None, 404, [0.001, 0.001]),
        ],
        instance,
        time_ns,
    )


def test_apitally_metrics_export_becomes_minute_rows_and_a_heartbeat(hub: Hub) -> None:
    response = hub.post(
        "metrics", gzip.compress(shop_export().SerializeToString()), **{"Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.content
    assert response.headers["content-type"] == "application/x-protobuf"
    reply = ExportMetricsServiceResponse.FromString(response.content)
    assert not reply.HasField("partial_success")

    assert totals(hub) == {200: 3, 404: 3, 201: 2}
    (total_200,) = hub.rows(metrics, metrics.c.level == LEVEL_TOTAL, metrics.c.status_code == 200)
    assert total_200.bucket == 1795715100
    assert total_200.response_size_sum == 2130
    assert json.loads(total_200.response_times) == {"10": 1, "50": 1, "310": 1}
    (total_201,) = hub.rows(metrics, metrics.c.level == LEVEL_TOTAL, metrics.c.status_code == 201)
    assert total_201.request_size_sum == 4000
    assert {e.path for e in hub.rows(endpoints)} == {"/items/{id}", "/items"}
    assert {c.identifier for c in hub.rows(consumers)} == {"alice", "bob"}
    assert sum(r.request_count for r in hub.rows(metrics, metrics.c.level == LEVEL_CONSUMER)) == 8
    (instance,) = hub.rows(instances)
    assert instance.instance_uuid == "3f1e8f3a-0000-4000-8000-000000000001"
    assert (instance.cpu_percent, instance.memory_rss) == (25.0, 50_000_000)
    assert instance.client == "apitally-py" and instance.versions["telemetry.distro.version"] == "1.0.0"
    assert instance.last_sync_at is not None


def test_the_same_body_again_is_acknowledged_and_not_counted_twice(hub: Hub) -> None:
    body = gzip.compress(shop_export().SerializeToString())
    for _ in range(2):
        assert hub.post("metrics", body, **{"Content-Encoding": "gzip"}).status_code == 200
    assert totals(hub) == {200: 3, 404: 3, 201: 2}


def test_messages_joined_end_to_end_parse_as_one_export(hub: Hub) -> None:
    first = shop_export(time_ns=MINUTE_NS + 10**9).SerializeToString()
    second = shop_export(time_ns=MINUTE_NS + 16 * 10**9).SerializeToString()
    # A spool file: two gzip members, as apitally 1.0 appends them.
    body = gzip.compress(first) + gzip.compress(second)
    assert hub.post("metrics", body, **{"Content-Encoding": "gzip"}).status_code == 200
    assert totals(hub) == {200: 6, 404: 6, 201: 4}


def test_otlp_json_with_string_int64s_is_accepted(hub: Hub) -> None:
    body = json_format.MessageToJson(shop_export()).encode()
    assert '"timeUnixNano": "' in body.decode()  # int64s as strings, as OTLP/JSON sends them
    response = hub.post("metrics", body, **{"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert totals(hub) == {200: 3, 404: 3, 201: 2}


def test_env_comes_from_the_header_else_the_resource_else_dev(hub: Hub) -> None:
    assert (
        hub.post("metrics", shop_export().SerializeToString(), **{"Apitally-Env": "staging"}).status_code
        == 200
    )
    plain = apitally_export([Requests("GET", "/a", 200, [0.01])], str(uuid.uuid4()), MINUTE_NS, env=None)
    assert hub.post("metrics", plain.SerializeToString()).status_code == 200
    named = apitally_export([Requests("GET", "/b", 200, [0.01])], str(uuid.uuid4()), MINUTE_NS, env="qa")
    assert hub.post("metrics", named.SerializeToString()).status_code == 200
    assert {e.name for e in hub.rows(envs)} == {"prod", "staging", "dev", "qa"}


def test_an_invalid_env_rejects_every_point_in_partial_success(hub: Hub) -> None:
    response = hub.post("metrics", shop_export().SerializeToString(), **{"Apitally-Env": "no spaces"})
    assert response.status_code == 200
    reply = ExportMetricsServiceResponse.FromString(response.content)
    assert reply.partial_success.rejected_data_points == 8  # 4 durations, 1 + 1 sizes, 2 gauges
    assert "invalid env" in reply.partial_success.error_message
    assert totals(hub) == {}


@pytest.mark.parametrize("token", ["apt_" + "x" * 24, "nonsense", ""])
def test_unknown_token_is_401_with_a_status_body(hub: Hub, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    sent = {**PROTOBUF, **headers}

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=hub.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.post("/v1/metrics", content=shop_export().SerializeToString(), headers=sent)

    response = asyncio.run(send())
    assert response.status_code == 401
    assert status_pb2.Status.FromString(response.content).message
    assert totals(hub) == {}


def test_a_new_token_leaves_the_old_one_valid_for_the_grace_period(hub: Hub) -> None:
    old = hub.token
    with hub.db.write() as conn:
        new = write_tokens.create(conn, hub.app_id, time.time(), 3600)
        newest = write_tokens.create(conn, hub.app_id, time.time(), 0)
    with hub.db.read() as conn:
        assert write_tokens.app_for(conn, old, time.time()) == hub.app_id  # within its grace period
        assert write_tokens.app_for(conn, new, time.time()) is None  # revoked at once by the newest
        assert write_tokens.app_for(conn, old, time.time() + 3601) is None
        assert write_tokens.app_for(conn, newest, time.time() + 10**6) == hub.app_id
    assert write_tokens.FORMAT.fullmatch(newest)
    assert hub.post("metrics", shop_export().SerializeToString(), token=newest).status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xff\xff", {}, 400),
        (b"not gzip", {"Content-Encoding": "gzip"}, 400),
        (b"{", {"Content-Type": "application/json"}, 400),
        (b'{"resourceMetrics": 3}', {"Content-Type": "application/json"}, 400),
        (b"x", {"Content-Type": "text/plain"}, 415),
        (b"x", {"Content-Encoding": "br"}, 415),
    ],
)
def test_bad_bodies_are_refused_with_a_4xx_naming_the_problem(
    hub: Hub, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = hub.post("metrics", body, **headers)
    assert response.status_code == status
    assert response.content


def test_over_the_size_limit_after_gunzip_is_413(db: Database) -> None:
    hub = Hub(db, max_body_bytes=5000)
    big = gzip.compress(b"\0" * 100_000)  # small when sent, too large once decompressed
    assert len(big) < 5000
    assert hub.post("metrics", big, **{"Content-Encoding": "gzip"}).status_code == 413
    assert hub.post("metrics", b"\0" * 6000).status_code == 413


def test_export_interval_header_when_the_operator_sets_one(db: Database) -> None:
    hub = Hub(db, otlp_export_interval_seconds=30)
    response = hub.post("metrics", shop_export().SerializeToString())
    assert response.headers["Apitally-Export-Interval"] == "30"
    assert (
        "Apitally-Export-Interval" not in Hub(db).post("metrics", shop_export().SerializeToString()).headers
    )


def test_too_many_exports_in_flight_is_429_with_retry_after(db: Database) -> None:
    hub = Hub(db, otlp_max_concurrent_exports=2)
    hub.app.state.otlp_in_flight = 2  # two exports of this process are being stored
    busy = hub.post("metrics", shop_export().SerializeToString())
    assert (busy.status_code, busy.headers["Retry-After"]) == (429, "1")
    assert status_pb2.Status.FromString(busy.content).message == "too many exports at once"
    assert totals(hub) == {}
    hub.app.state.otlp_in_flight = 0
    assert hub.post("metrics", shop_export().SerializeToString()).status_code == 200


def test_an_app_that_stops_exporting_goes_down_after_the_heartbeat_timeout(db: Database) -> None:
    from tallyhub.analytics.incidents import open_incidents
    from tallyhub.settings import load_settings
    from tallyhub.uptime import heartbeats

    settings = load_settings({"heartbeat_timeout_seconds": 180}, environ={})
    hub = Hub(db)
    assert hub.post("metrics", shop_export().SerializeToString()).status_code == 200
    sent_at = time.time()
    (prod,) = hub.rows(envs, envs.c.app_id == hub.app_id)
    assert heartbeats.run(db, settings, sent_at + 170) == (0, 0)
    assert heartbeats.run(db, settings, sent_at + 200) == (1, 0)
    (down,) = open_incidents(db, prod.id)
    assert down.cause.startswith("No instance of Shop / prod has synced since ")


def test_nul_characters_in_attributes_are_stored_as_replacement_characters(hub: Hub) -> None:
    # PostgreSQL text and jsonb cannot hold NUL: the fuzz test once got a 500 from a client name with one.
    export = shop_export()
    resource = export.resource_metrics[0].resource
    for kv in resource.attributes:
        if kv.key in ("telemetry.distro.name", "telemetry.sdk.name"):
            kv.value.string_value = "opentelemetry-\x00"
    resource.attributes.add(key="extra\x00key").value.string_value = "v\x00"
    response = hub.post("metrics", export.SerializeToString())
    assert response.status_code == 200, response.content
    assert totals(hub) == {200: 3, 404: 3, 201: 2}
    (instance,) = hub.rows(instances)
    assert instance.client == "opentelemetry-\ufffd"
