"""Property: the request key of a data point is the same whether worked out afresh or taken from the cache
of attribute sets, whatever the attributes' types (a cached key never stands for another set's)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import ExponentialHistogramDataPoint
from tallyhub.ingest.otlp import metrics

NAMES = st.sampled_from(
    ["http.request.method", "http.method", "http.route", "http.target", "http.response.status_code",
     "http.status_code", "apitally.consumer.identifier", "enduser.id", "other"]
)  # fmt: skip
# Values that look alike across types: 200 as an int, a string, a float and a bool; "" and 0; NUL.
VALUES = st.one_of(
    st.sampled_from(["GET", "post", "/items/{id}", "/a?x=1", "200", "", "\x00", "alice"]).map(
        lambda s: AnyValue(string_value=s)
    ),
    st.sampled_from([0, 1, 200, 404, 1000, -5]).map(lambda i: AnyValue(int_value=i)),
    st.sampled_from([0.0, 200.0, 200.5, float("nan")]).map(lambda d: AnyValue(double_value=d)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.just(AnyValue()),
)
ATTRIBUTES = st.lists(st.tuples(NAMES, VALUES), max_size=6).map(
    lambda pairs: [KeyValue(key=k, value=v) for k, v in pairs]
)


def _point_attributes(attrs: list[KeyValue]) -> Any:
    point = ExponentialHistogramDataPoint()
    point.attributes.extend(attrs)
    return point.attributes


@settings(max_examples=300, deadline=None)
@given(st.lists(ATTRIBUTES, min_size=1, max_size=8))
def test_cached_keys_equal_fresh_ones(sets: list[list[KeyValue]]) -> None:
    metrics._request_keys.clear()
    for attrs in sets * 2:  # every set twice: the second time from the cache where it was cached
        attributes = _point_attributes(attrs)
        assert metrics._cached_request_key(attributes) == metrics._request_key(attributes)


def test_the_cache_is_bounded() -> None:
    metrics._request_keys.clear()
    for i in range(metrics.MAX_CACHED_KEYS + 10):
        attrs = _point_attributes([KeyValue(key="http.route", value=AnyValue(string_value=f"/r{i}"))])
        metrics._cached_request_key(attrs)
    assert len(metrics._request_keys) <= metrics.MAX_CACHED_KEYS
