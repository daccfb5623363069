"""OTLP metric exports built as their senders build them: apitally 1.0 (delta exponential histograms,
scale 3, stable semconv) and the plain OpenTelemetry SDK (explicit buckets, often cumulative, older semconv).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

DELTA, CUMULATIVE = 1, 2
# The OpenTelemetry SDK's default explicit bounds (ms for the older http.server.duration).
DEFAULT_BOUNDS = (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)


@dataclasses.dataclass
class Requests:
    """Requests of one (method, route, status, consumer): their durations (s) and body sizes (bytes)."""

    method: str
    route: str | None
    status: int
    durations: Sequence[float]
    consumer: str | None = None
    request_sizes: Sequence[int] = ()
    response_sizes: Sequence[int] = ()


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def resource_attributes(instance: str, env: str | None = "prod", distro: bool = True) -> list[KeyValue]:
    attrs = {
        "service.name": "shop",
        "service.instance.id": instance,
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.39.1",
    }
    if distro:
        attrs.update({"telemetry.distro.name": "apitally-py", "telemetry.distro.version": "1.0.0"})
    if env is not None:
        attrs["deployment.environment.name"] = env
    return [kv(k, v) for k, v in attrs.items()]


def exponential_point(
    values: Sequence[float], attrs: list[KeyValue], start_ns: int, time_ns: int, scale: int = 3
) -> m.ExponentialHistogramDataPoint:
    """A delta exponential histogram point of `values` as the SDK records them (bucket (b^i, b^(i+1)])."""
    indexes = [math.ceil(math.log2(v) * 2**scale) - 1 for v in values if v > 0]
    zero = sum(1 for v in values if v <= 0)
    point = m.ExponentialHistogramDataPoint(
        attributes=attrs,
        start_time_unix_nano=start_ns,
        time_unix_nano=time_ns,
        count=len(values),
        sum=float(sum(values)),
        scale=scale,
        zero_count=zero,
    )
    if values:
        point.min, point.max = min(values), max(values)
    if indexes:
        low = min(indexes)
        counts = [0] * (max(indexes) - low + 1)
        for i in indexes:
            counts[i - low] += 1
        point.positive.offset = low
        point.positive.bucket_counts.extend(counts)
    return point


def explicit_point(
    values: Sequence[float], attrs: list[KeyValue], start_ns: int, time_ns: int, bounds: Sequence[float]
) -> m.HistogramDataPoint:
    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[next((i for i, b in enumerate(bounds) if v <= b), len(bounds))] += 1
    point = m.HistogramDataPoint(
        attributes=attrs,
        start_time_unix_nano=start_ns,
        time_unix_nano=time_ns,
        count=len(values),
        sum=float(sum(values)),
        bucket_counts=counts,
        explicit_bounds=list(bounds),
    )
    if values:
        point.min, point.max = min(values), max(values)
    return point


def apitally_export(
    requests: Iterable[Requests],
    instance: str,
    time_ns: int,
    start_ns: int | None = None,
    env: str | None = "prod",
    cpu: float | None = 0.25,
    memory: int | None = 50_000_000,
) -> ExportMetricsServiceRequest:
    """One export as apitally 1.0 makes it: scope `apitally`, delta exponential histograms, gauges."""
    start = time_ns - 15_000_000_000 if start_ns is None else start_ns
    durations, request_sizes, response_sizes = [], [], []
    for r in requests:
        attrs = [kv("http.request.method", r.method), kv("http.response.status_code", r.status)]
        if r.route is not None:
            attrs.append(kv("http.route", r.route))
        if r.consumer:
            attrs.append(kv("apitally.consumer.identifier", r.consumer))
        durations.append(exponential_point(r.durations, attrs, start, time_ns))
        if r.request_sizes:
            request_sizes.append(exponential_point(r.request_sizes, attrs, start, time_ns))
        if r.response_sizes:
            response_sizes.append(exponential_point(r.response_sizes, attrs, start, time_ns))
    metrics = []
    for name, unit, points in (
        ("http.server.request.duration", "s", durations),
        ("http.server.request.body.size", "By", request_sizes),
        ("http.server.response.body.size", "By", response_sizes),
    ):
        if points:
            metrics.append(
                m.Metric(
                    name=name,
                    unit=unit,
                    exponential_histogram=m.ExponentialHistogram(
                        data_points=points, aggregation_temporality=DELTA
                    ),
                )
            )
    if cpu is not None:
        metrics.append(
            m.Metric(
                name="process.cpu.utilization",
                unit="1",
                gauge=m.Gauge(data_points=[m.NumberDataPoint(time_unix_nano=time_ns, as_double=cpu)]),
            )
        )
    if memory is not None:
        metrics.append(
            m.Metric(
                name="process.memory.usage",
                unit="By",
                gauge=m.Gauge(data_points=[m.NumberDataPoint(time_unix_nano=time_ns, as_int=memory)]),
            )
        )
    return ExportMetricsServiceRequest(
        resource_metrics=[
            m.ResourceMetrics(
                resource={"attributes": resource_attributes(instance, env)},
                scope_metrics=[
                    m.ScopeMetrics(scope={"name": "apitally", "version": "1.0.0"}, metrics=metrics)
                ],
            )
        ]
    )


def otel_flask_export(
    requests: Iterable[Requests],
    instance: str | None,
    time_ns: int,
    start_ns: int,
    temporality: int = CUMULATIVE,
    env: str | None = None,
) -> ExportMetricsServiceRequest:
    """One export as opentelemetry-instrumentation-flask makes it by default: `http.server.duration` in ms
    with `http.method`, `http.status_code`, `http.target`, explicit buckets (durations given in seconds)."""
    points = []
    for r in requests:
        attrs = [kv("http.method", r.method), kv("http.status_code", r.status), kv("http.scheme", "http")]
        if r.route is not None:
            attrs.append(kv("http.target", r.route))
        if r.consumer:
            attrs.append(kv("enduser.id", r.consumer))
        points.append(
            explicit_point([d * 1000 for d in r.durations], attrs, start_ns, time_ns, DEFAULT_BOUNDS)
        )
    attrs = resource_attributes(instance or "", env, distro=False)
    if instance is None:
        attrs = [a for a in attrs if a.key != "service.instance.id"]
    return ExportMetricsServiceRequest(
        resource_metrics=[
            m.ResourceMetrics(
                resource={"attributes": attrs},
                scope_metrics=[
                    m.ScopeMetrics(
                        scope={"name": "opentelemetry.instrumentation.flask", "version": "0.66b1"},
                        metrics=[
                            m.Metric(
                                name="http.server.duration",
                                unit="ms",
                                histogram=m.Histogram(
                                    data_points=points, aggregation_temporality=temporality
                                ),
                            )
                        ],
                    )
                ],
            )
        ]
    )
