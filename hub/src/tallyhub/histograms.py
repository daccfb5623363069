"""Histograms as {bin: count} dicts: merging, (de)serialising, percentiles and Apdex.

Response-time bins are 10 ms wide (key = lower bound in ms); size bins are 1 KB (key = bytes // 1000).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

Histogram = dict[int, int]
RESPONSE_TIME_BIN_MS = 10


def parse_wire(data: Mapping[str, int]) -> Histogram:
    """A histogram as clients send it (string keys) as int keys, dropping empty bins."""
    return {int(k): int(v) for k, v in data.items() if v}


def merge_into(target: Histogram, source: Mapping[int, int]) -> Histogram:
    for key, count in source.items():
        target[key] = target.get(key, 0) + count
    return target


def dumps(hist: Mapping[int, int]) -> str:
    return orjson.dumps(hist, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS).decode()


def loads(text: str) -> Histogram:
    return {int(k): v for k, v in orjson.loads(text).items()}


def merged(texts: Iterable[str]) -> Histogram:
    """Merge serialised histograms (as read from the database)."""
    total: Histogram = {}
    for text in texts:
        if text and text != "{}":
            for key, count in orjson.loads(text).items():
                k = int(key)
                total[k] = total.get(k, 0) + count
    return total


def percentiles(hist: Mapping[int, int], qs: Iterable[float], bin_width: int) -> dict[float, float | None]:
    """Percentile estimates, linear within the bin the rank falls in (as Prometheus' histogram_quantile).

    The estimate always lies in the bin of the nearest-rank percentile, so it is within one bin of the
    true value; spreading the bin's requests evenly across it beats reporting every one at its middle.
    """
    n = sum(hist.values())
    if n == 0:
        return {q: None for q in qs}
    ordered = sorted((key, count) for key, count in hist.items() if count > 0)
    result: dict[float, float | None] = {}
    for q in qs:
        rank = q * n
        seen = 0
        for key, count in ordered:
            if seen + count >= rank:
                result[q] = key + bin_width * max(rank - seen, 0) / count
                break
            seen += count
    return result


def apdex(response_times: Mapping[int, int], threshold_ms: int) -> float | None:
    """Apdex: (satisfied + tolerating / 2) / total, satisfied up to T, tolerating up to 4T.

    A bin counts as satisfied when its upper bound is within T (tolerating likewise with 4T), so a
    bin straddling T counts on the stricter side.
    """
    total = sum(response_times.values())
    if total == 0:
        return None
    return apdex_points(response_times, threshold_ms) / (2 * total)


def apdex_points(response_times: Mapping[int, int], threshold_ms: int) -> int:
    """2 * satisfied + tolerating: Apdex's numerator doubled, a whole number that sums exactly."""
    points = 0
    for key, count in response_times.items():
        upper = key + RESPONSE_TIME_BIN_MS
        if upper <= threshold_ms:
            points += 2 * count
        elif upper <= 4 * threshold_ms:
            points += count
    return points
