"""The OTLP counting rule: SERVER spans count requests only for an instance whose metrics do not, whichever
signal's first export arrives first; apitally 1.0's sampled spans never count."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from tallyhub.ingest import batch
from tallyhub.ingest.otlp import traces as otlp_traces
from tallyhub.ingest.otlp.attributes import instance_uuid
from tallyhub.ingest.otlp.context import Context
from tallyhub.ingest.writer import Writer

from tests.support import otlp_messages as m

T0 = 1_795_651_200
NS = 1_000_000_000
PLAIN = {"service.name": "shop", "service.instance.id": "plain-1"}
OTHER = {"service.name": "shop", "service.instance.id": "plain-2"}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spans_export(resource: dict[str, Any], count: int, first: int = 0) -> batch.Batch:
    """`count` SERVER spans (GET /items/{id} 200, 25 ms, 100-byte responses), one export."""
    spans = [
        m.span(
            f"{n + 1:032x}",
            f"{n + 1:016x}",
            "GET /items/{id}",
            (T0 + 1 + n) * NS,
            25_000_000,
            kind=m.SERVER,
            attrs={
                "http.request.method": "GET",
                "http.route": "/items/{id}",
                "http.response.status_code": 200,
                "http.response.body.size": 100,
            },
        )
        for n in range(first, first + count)
    ]
    context = Context(1, "prod", T0 + 70, "v1/traces", str(uuid.uuid4()))
    return otlp_traces.translate(m.traces(resource, *spans), context).batch


def metrics_export(resource: dict[str, Any], count: int) -> batch.Batch:
    """What the metrics translator makes of a duration histogram counting `count` such requests."""
    instance = instance_uuid(m.traces(resource).resource_spans[0].resource)
    entry = batch.RequestMetrics(
        T0 + 30, None, "GET", "/items/{id}", 200, count, 0, 100 * count, {20: count}, {}, {0: count}
    )
    return batch.Batch(
        "otlp", str(uuid.uuid4()), sourced_requests=[batch.SourcedRequests(instance, "metrics", [entry])]
    )


def total(api: Any) -> int:
    return int(api.get("/traffic", start=iso(T0), end=iso(T0 + 3600))["totals"]["requests"])


def test_an_app_that_exports_only_traces_counts_each_server_span_once(api: Any, db: Any) -> None:
    writer = Writer(db, clock=lambda: T0 + 70)
    assert writer.store(api.app_id, "prod", spans_export(PLAIN, 3))
    assert writer.store(api.app_id, "prod", spans_export(PLAIN, 2, first=3))
    assert total(api) == 5
    (endpoint,) = api.get("/endpoints", start=iso(T0), end=iso(T0 + 3600))
    assert (endpoint["path"], endpoint["requests"], endpoint["bytes_sent"]) == ("/items/{id}", 5, 500)


@pytest.mark.parametrize("first", ["traces", "metrics"])
def test_traces_and_metrics_of_one_instance_count_once_whichever_arrives_first(
    api: Any, db: Any, first: str
) -> None:
    writer = Writer(db, clock=lambda: T0 + 70)
    exports = [spans_export(PLAIN, 4), metrics_export(PLAIN, 4)]
    for export in exports if first == "traces" else exports[::-1]:
        assert writer.store(api.app_id, "prod", export)
    # Later exports of both signals: only the signal that came first keeps counting.
    assert writer.store(api.app_id, "prod", spans_export(PLAIN, 2, first=4))
    assert writer.store(api.app_id, "prod", metrics_export(PLAIN, 2))
    assert total(api) == 6
    # The request logs are there either way.
    logs = api.get("/request-logs", start=iso(T0), end=iso(T0 + 3600), limit=100)["items"]
    assert len(logs) == 6


def test_in_one_batch_the_metrics_win_and_other_instances_choose_for_themselves(api: Any, db: Any) -> None:
    writer = Writer(db, clock=lambda: T0 + 70)
    both = spans_export(PLAIN, 3)
    both.sourced_requests.extend(metrics_export(PLAIN, 5).sourced_requests)
    assert writer.store(api.app_id, "prod", both)
    assert total(api) == 5
    assert writer.store(api.app_id, "prod", spans_export(OTHER, 2, first=3))
    assert total(api) == 7


def test_apitally_spans_never_count_its_metrics_do(api: Any, db: Any) -> None:
    writer = Writer(db, clock=lambda: T0 + 70)
    apitally = {"service.instance.id": "a-1", "telemetry.distro.name": "apitally-py"}
    assert writer.store(api.app_id, "prod", spans_export(apitally, 3))
    assert total(api) == 0
    assert writer.store(api.app_id, "prod", metrics_export(apitally, 10))
    assert total(api) == 10


def test_an_instance_without_an_instance_id_is_keyed_by_its_service(api: Any, db: Any) -> None:
    writer = Writer(db, clock=lambda: T0 + 70)
    assert writer.store(api.app_id, "prod", spans_export({"service.name": "shop"}, 2))
    assert writer.store(api.app_id, "prod", metrics_export({"service.name": "shop"}, 9))
    assert total(api) == 2
