"""Property: whatever arrives at /v1/*, the hub answers 200, 400, 413 or 415, never a 500.

Bodies are generated exports with hostile values (huge counts, NaN sums, extreme scales and offsets, odd
attribute types), their protobuf bytes mutated, and their OTLP/JSON with random parts replaced. The app runs
in-process on a real database with app exceptions raised into the test.
"""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m
from tallyhub.storage.database import Database

from hub.tests.ingest.test_fuzz import FUZZ, mutated
from tests.support.otlp import Requests, apitally_export, otel_flask_export
from tests.support.otlp_hub import MINUTE_NS, Hub

ALLOWED = {200, 400, 413, 415}
BASE = [
    apitally_export(
        [
            Requests("GET", "/a/{id}", 200, [0.01, 0.2], "c1", [10], [2000]),
            Requests("POST", None, 500, [1.5]),
        ],
        str(uuid.uuid4()),
        MINUTE_NS,
    ),
    otel_flask_export([Requests("GET", "/b", 404, [0.003, 0.004])], None, MINUTE_NS, MINUTE_NS - 10**10),
]
u64 = st.integers(0, 2**64 - 1)
values = (
    st.builds(lambda s: AnyValue(string_value=s), st.text(max_size=30))
    | st.builds(lambda i: AnyValue(int_value=i), st.integers(-(2**63), 2**63 - 1))
    | st.builds(lambda f: AnyValue(double_value=f), st.floats())
    | st.builds(lambda b: AnyValue(bool_value=b), st.booleans())
    | st.just(AnyValue())
)
names = st.sampled_from(
    [
        "http.request.method",
        "http.method",
        "http.route",
        "http.target",
        "http.response.status_code",
        "http.status_code",
        "apitally.consumer.identifier",
        "enduser.id",
        "other",
    ]
)
attributes = st.lists(st.builds(lambda k, v: KeyValue(key=k, value=v), names, values), max_size=6)


@st.composite
def hostile_exports(draw: st.DrawFn) -> ExportMetricsServiceRequest:
    points_exp = [
        m.ExponentialHistogramDataPoint(
            attributes=draw(attributes),
            start_time_unix_nano=draw(u64),
            time_unix_nano=draw(u64),
            count=draw(u64),
            sum=draw(st.floats()),
            scale=draw(st.integers(-(2**31), 2**31 - 1)),
            zero_count=draw(u64),
            positive=m.ExponentialHistogramDataPoint.Buckets(
                offset=draw(st.integers(-(2**31), 2**31 - 1)), bucket_counts=draw(st.lists(u64, max_size=8))
            ),
            negative=m.ExponentialHistogramDataPoint.Buckets(bucket_counts=draw(st.lists(u64, max_size=3))),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    points_explicit = [
        m.HistogramDataPoint(
            attributes=draw(attributes),
            start_time_unix_nano=draw(u64),
            time_unix_nano=draw(u64),
            count=draw(u64),
            sum=draw(st.floats()),
            bucket_counts=draw(st.lists(u64, max_size=6)),
            explicit_bounds=draw(st.lists(st.floats(), max_size=6)),
            max=draw(st.floats()),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    temporality = draw(st.integers(0, 3))
    name = draw(
        st.sampled_from(
            ["http.server.request.duration", "http.server.duration", "http.server.request.body.size"]
        )
    )
    metrics = [
        m.Metric(
            name=name,
            unit=draw(st.sampled_from(["s", "ms", "", "x"])),
            exponential_histogram=m.ExponentialHistogram(
                data_points=points_exp, aggregation_temporality=temporality
            ),
        ),
        m.Metric(
            name=name, histogram=m.Histogram(data_points=points_explicit, aggregation_temporality=temporality)
        ),
        m.Metric(
            name=draw(st.sampled_from(["process.cpu.utilization", "process.memory.usage"])),
            gauge=m.Gauge(
                data_points=[m.NumberDataPoint(time_unix_nano=draw(u64), as_double=draw(st.floats()))]
            ),
        ),
    ]
    resource_attrs = draw(
        st.lists(
            st.builds(
                lambda k, v: KeyValue(key=k, value=v),
                st.sampled_from(
                    [
                        "service.instance.id",
                        "deployment.environment.name",
                        "service.name",
                        "telemetry.sdk.language",
                    ]
                ),
                values,
            ),
            max_size=4,
        )
    )
    return ExportMetricsServiceRequest(
        resource_metrics=[
            m.ResourceMetrics(
                resource={"attributes": resource_attrs}, scope_metrics=[m.ScopeMetrics(metrics=metrics)]
            )
        ]
    )


@pytest.fixture
def hub(db: Database) -> Hub:
    """The in-process hub (this folder's, not the conftest's hub process)."""
    return Hub(db)


@FUZZ
@given(export=hostile_exports(), env=st.none() | st.text(max_size=40))
def test_generated_exports_never_crash(
    hub: Hub, export: ExportMetricsServiceRequest, env: str | None
) -> None:
    headers = {"Apitally-Env": env} if env is not None and env.isprintable() and env.isascii() else {}
    response = hub.post("metrics", export.SerializeToString(), **headers)
    assert response.status_code in ALLOWED, response.content


@FUZZ
@given(data=st.data(), signal=st.sampled_from(["metrics", "traces", "logs"]))
def test_mutated_protobuf_never_crashes(hub: Hub, data: st.DataObject, signal: str) -> None:
    body = bytearray(data.draw(st.sampled_from(BASE)).SerializeToString())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    body = body[: data.draw(st.integers(0, len(body)))]
    gz = data.draw(st.booleans())
    headers = {"Content-Encoding": "gzip"} if gz else {}
    response = hub.post(signal, gzip.compress(bytes(body)) if gz else bytes(body), **headers)
    assert response.status_code in ALLOWED, response.content


BASE_JSON: list[Any] = [json.loads(json_format.MessageToJson(e)) for e in BASE]


@FUZZ
@given(data=st.data(), signal=st.sampled_from(["metrics", "traces", "logs"]))
def test_mutated_otlp_json_never_crashes(hub: Hub, data: st.DataObject, signal: str) -> None:
    value = data.draw(mutated(data.draw(st.sampled_from(BASE_JSON))))
    body = json.dumps(value).encode()
    response = hub.post(signal, body, **{"Content-Type": "application/json"})
    assert response.status_code in ALLOWED, response.content
