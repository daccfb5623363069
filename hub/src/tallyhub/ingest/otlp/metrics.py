"""OTLP metrics into the hub's request metrics and instance figures (docs/otlp-mapping.md).

Request metrics are the HTTP server histograms of either semantic-convention generation: a data point
becomes a request-metrics entry keyed by its method, route, status and consumer, with its counts exact
and its buckets moved into the hub's bins (bins.py). Delta points are summed into the batch in one pass;
cumulative points are handed to the writer, which subtracts each stream's stored totals
(metrics/streams.py). The hot path reads the upb-backed messages directly: no conversion to dicts.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from tallyhub.ingest.batch import CumulativePoint, Instance, RequestMetrics, SourcedRequests
from tallyhub.ingest.otlp import bins
from tallyhub.ingest.otlp.attributes import instance_uuid, to_dict, without_nul
from tallyhub.ingest.otlp.context import Context, Translated
from tallyhub.ingest.otlp.resource import is_apitally
from tallyhub.metrics.streams import DURATION, REQUEST_SIZE, RESPONSE_SIZE

CUMULATIVE = 2  # AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
# Histogram name -> (role, default unit): stable names first, then the older conventions.
HISTOGRAMS = {
    "http.server.request.duration": (DURATION, "s"),
    "http.server.duration": (DURATION, "ms"),
    "http.server.request.body.size": (REQUEST_SIZE, "By"),
    "http.server.request.size": (REQUEST_SIZE, "By"),
    "http.server.response.body.size": (RESPONSE_SIZE, "By"),
    "http.server.response.size": (RESPONSE_SIZE, "By"),
}
MS_PER_UNIT = {"s": 1000.0, "ms": 1.0, "us": 0.001, "ns": 1e-6}
CPU_UTILIZATION = "process.cpu.utilization"  # 0-1, as apitally 1.0 and the semconv define it
MEMORY_USAGE = "process.memory.usage"  # bytes
# Attribute -> the slot of the request key it fills; where two name one slot, the first listed wins.
KEY_ATTRIBUTES = {
    "http.request.method": 0,
    "http.method": 0,
    "http.route": 1,
    "http.target": 1,
    "http.response.status_code": 2,
    "http.status_code": 2,
    "apitally.consumer.identifier": 3,
    "enduser.id": 3,
}
PREFERRED = frozenset(
    {"http.request.method", "http.route", "http.response.status_code", "apitally.consumer.identifier"}
)
MAX_METHOD, MAX_PATH, MAX_CONSUMER = 16, 1000, 128
# Bounds that keep sums of many points within the 64-bit columns (a point beyond them is refused).
MAX_COUNT = 2**40
MAX_SUM = 2.0**50  # bytes (or seconds) in one point
MAX_NS = 2**63 - 1

# (at, consumer, method, path, status): sums[key] = [count, request bytes, response bytes, 3 histograms]
Key = tuple[float, str | None, str, str, int]


def translate(request: Any, context: Context) -> Translated:
    """An ExportMetricsServiceRequest as a batch: request metrics, cumulative points and instances."""
    result = Translated(context.batch())
    batch = result.batch
    sums: dict[Key, list[Any]] = {}
    instances: dict[str, Instance] = {}
    for resource_metrics in request.resource_metrics:
        resource = resource_metrics.resource
        if not context.accepts(resource):
            result.reject(_points(resource_metrics), f"resource of another env than {context.env!r}")
            continue
        instance = instances.get(uuid := instance_uuid(resource))
        if instance is None:
            instance = instances[uuid] = _instance(uuid, resource)
        # apitally 1.0's metrics always count; another SDK's only if its spans did not count first
        # (the counting rule, ingest/request_sources.py): those go to the writer as sourced requests.
        apitally = is_apitally(to_dict(resource.attributes))
        own_sums: dict[Key, list[Any]] = sums if apitally else {}
        own_cumulative = batch.cumulative if apitally else []
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                name = metric.name
                described = HISTOGRAMS.get(name)
                if described is not None:
                    _histogram(metric, described, uuid, context.now, own_sums, own_cumulative, result)
                elif name in (CPU_UTILIZATION, MEMORY_USAGE):
                    _gauge(metric, instance)
        if not apitally and (own_sums or own_cumulative):
            batch.sourced_requests.append(
                SourcedRequests(uuid, "metrics", _entries(own_sums), own_cumulative)
            )
    batch.instances.extend(instances.values())
    batch.requests.extend(_entries(sums))
    return result


def _entries(sums: dict[Key, list[Any]]) -> list[RequestMetrics]:
    return [RequestMetrics(*key, v[0], v[1], v[2], v[3], v[4], v[5]) for key, v in sums.items()]


def _instance(uuid: str, resource: Any) -> Instance:
    """A heartbeat of the resource's instance, with its client and versions as its attributes tell."""
    attrs = to_dict(resource.attributes)
    versions = {
        k: str(v)
        for k, v in attrs.items()
        if k.startswith(("telemetry.sdk.", "telemetry.distro.")) or k in ("service.name", "service.version")
    }
    client = attrs.get("telemetry.distro.name") or (
        f"opentelemetry-{attrs['telemetry.sdk.language']}" if attrs.get("telemetry.sdk.language") else None
    )
    return Instance(uuid, heartbeat=True, client=str(client) if client else None, versions=versions or None)


def _gauge(metric: Any, instance: Instance) -> None:
    """The latest value of a CPU or memory gauge (or sum) into the instance's heartbeat."""
    kind = metric.WhichOneof("data")
    if kind not in ("gauge", "sum"):
        return
    latest = None
    for point in getattr(metric, kind).data_points:
        if latest is None or point.time_unix_nano >= latest.time_unix_nano:
            latest = point
    if latest is None:
        return
    value = latest.as_double if latest.WhichOneof("value") == "as_double" else float(latest.as_int)
    if not 0 <= value <= MAX_SUM:
        return  # NaN, negative or absurd: the stored figure stays
    if metric.name == CPU_UTILIZATION:
        instance.cpu_percent = max(value, 0.0) * 100.0  # Hub v2 shows CPU in percent
    else:
        instance.memory_rss = max(int(value), 0)


def _points(resource_metrics: Any) -> int:
    total = 0
    for scope_metrics in resource_metrics.scope_metrics:
        for metric in scope_metrics.metrics:
            kind = metric.WhichOneof("data")
            if kind is not None:
                total += len(getattr(metric, kind).data_points)
    return total


RequestKey = tuple[str | None, str | None, int | None, str | None]
_request_keys: dict[tuple[bytes, ...], RequestKey] = {}
_serialised = KeyValue.SerializeToString
MAX_CACHED_KEYS = 20_000  # distinct attribute sets remembered; the cache starts over past it


def _cached_request_key(attributes: Any) -> RequestKey:
    """`_request_key`, worked out once per distinct attribute set (exports repeat the same few).

    The cache key is the attributes as serialised: equal bytes are equal names, types and values, and
    serialising each attribute in C costs less than reading its name and value from Python.
    """
    cache_key = tuple(map(_serialised, attributes))
    key = _request_keys.get(cache_key)
    if key is None:
        if len(_request_keys) >= MAX_CACHED_KEYS:
            _request_keys.clear()
        key = _request_keys[cache_key] = _request_key(attributes)
    return key


def _request_key(attributes: Any) -> RequestKey:
    """(method, route, status, consumer) of a data point, preferring the stable attribute names."""
    slots: list[Any] = [None, None, None, None]
    for kv in attributes:
        name = kv.key
        slot = KEY_ATTRIBUTES.get(name)
        if slot is None or (slots[slot] is not None and name not in PREFERRED):
            continue
        v = kv.value
        # The common case first: strings, and the status as an int (what the SDKs send).
        found: Any = v.int_value if slot == 2 else v.string_value
        if not found:
            which = v.WhichOneof("value")
            if which in ("string_value", "int_value", "bool_value"):
                found = getattr(v, which)
            elif which == "double_value" and math.isfinite(v.double_value):
                found = int(v.double_value)
            else:
                continue
        slots[slot] = found
    method, route, status, consumer = (without_nul(v) if isinstance(v, str) else v for v in slots)
    if isinstance(status, str):
        status = int(status) if status.isdigit() else None
    if route is not None:
        route = str(route).split("?", 1)[0]
    return (
        str(method).upper()[:MAX_METHOD] if method is not None else None,
        route[:MAX_PATH] if route is not None else None,
        # A bool is an int to Python, not a status code (the fuzz test sent one).
        status if isinstance(status, int) and not isinstance(status, bool) and 0 <= status <= 999 else None,
        str(consumer)[:MAX_CONSUMER] if consumer else None,
    )


def _histogram(
    metric: Any,
    described: tuple[str, str],
    instance: str,
    now: float,
    sums: dict[Key, list[Any]],
    cumulative: list[CumulativePoint],
    result: Translated,
) -> None:
    role, default_unit = described
    kind = metric.WhichOneof("data")
    if kind not in ("histogram", "exponential_histogram"):
        return  # the name with another instrument: not one the mapping knows
    data = getattr(metric, kind)
    if role == DURATION:
        factor = MS_PER_UNIT.get(metric.unit or default_unit, MS_PER_UNIT[default_unit])
        width = bins.MS_BIN
        slot = 3
    else:
        factor = 1.0
        width = bins.SIZE_BIN
        slot = 4 if role == REQUEST_SIZE else 5
    is_cumulative = data.aggregation_temporality == CUMULATIVE
    exponential = kind == "exponential_histogram"
    missing = implausible = 0
    for point in data.data_points:
        method, path, status, consumer = _cached_request_key(point.attributes)
        if method is None or status is None:
            missing += 1
            continue
        path = path or ""
        if exponential:
            hist, in_bins = _exponential_hist(point, factor, width)
        else:
            hist, in_bins = _explicit_hist(point, factor, width)
        count = point.count
        point_sum = point.sum
        if count > MAX_COUNT or in_bins > MAX_COUNT or not 0 <= point_sum <= MAX_SUM:
            implausible += 1
            continue
        total = round(point_sum) if role != DURATION else 0
        at_ns = min(point.time_unix_nano, MAX_NS)
        if is_cumulative:
            identity = f"{instance}\0{role}\0{method}\0{path}\0{status}\0{consumer or ''}"
            cumulative.append(
                CumulativePoint(
                    hashlib.sha256(identity.encode()).hexdigest(),
                    min(point.start_time_unix_nano, MAX_NS),
                    at_ns,
                    consumer,
                    method,
                    path,
                    status,
                    role,
                    count,
                    total,
                    hist,
                )
            )
            continue
        key = (at_ns / 1e9 if at_ns else now, consumer, method, path, status)
        entry = sums.get(key)
        if entry is None:
            entry = sums[key] = [0, 0, 0, {}, {}, {}]
        if role == DURATION:
            entry[0] += count
        elif role == REQUEST_SIZE:
            entry[1] += total
        else:
            entry[2] += total
        target = entry[slot]
        if not target:
            entry[slot] = hist  # the common case: one point per key and metric (hist is this point's own)
            continue
        for k, v in hist.items():
            target[k] = target.get(k, 0) + v
    result.reject(missing, f"{metric.name} points without http.request.method or http.response.status_code")
    result.reject(implausible, f"{metric.name} points with counts or sums out of range")


def _exponential_hist(point: Any, factor: float, width: int) -> tuple[dict[int, int], int]:
    """An exponential histogram point's counts in hub bins, and their total."""
    zero = point.zero_count
    hist: dict[int, int] = {0: zero} if zero else {}
    positive = point.positive
    counts = positive.bucket_counts[:]  # a list: the repeated field read in C once, iterated twice
    total = zero
    if counts:
        bins.add_counts(
            hist, bins.exponential_bins(point.scale, positive.offset, len(counts), factor, width), counts
        )
        total += sum(counts)
    # HasField first: reading an absent sub-message still builds a Python object for it.
    negative = sum(point.negative.bucket_counts) if point.HasField("negative") else 0
    if negative:
        hist[0] = hist.get(0, 0) + negative  # durations and sizes are never negative
        total += negative
    return hist, total


def _explicit_hist(point: Any, factor: float, width: int) -> tuple[dict[int, int], int]:
    """An explicit-bucket histogram point's counts in hub bins, and their total."""
    hist: dict[int, int] = {}
    counts = point.bucket_counts[:]
    if counts:
        bounds = tuple(point.explicit_bounds)
        bins.add_counts(hist, bins.explicit_bins(bounds, factor, width), counts)
        if len(counts) > len(bounds) and counts[len(bounds)]:
            top = point.max if point.HasField("max") else (bounds[-1] if bounds else 0.0)
            top_bin = bins.bin_of(top * factor, width)
            hist[top_bin] = hist.get(top_bin, 0) + counts[len(bounds)]
    return hist, sum(hist.values())
