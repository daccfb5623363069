"""OTLP histogram buckets into the hub's bins (10 ms response times, 1 KB sizes), cached per bucket layout.

Each source bucket's whole count goes to the hub bin holding the bucket's middle, so a percentile read
from the hub bins lies within the source bucket, or within one hub bin when buckets are finer than bins.
The first explicit bucket (-inf, b0] is taken as [0, b0]; the overflow bucket (b_last, +inf) as its
lower bound, or the point's max when the exporter sent one.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

MS_BIN = 10  # width of a response-time bin in ms (histograms.RESPONSE_TIME_BIN_MS)
SIZE_BIN = 1000  # bytes per size bin (histograms: bytes // 1000)
MAX_VALUE = 1e15  # ms or bytes: larger values share the last bin (bin keys stay within 64 bits)


def bin_of(value: float, width: int) -> int:
    """The hub bin (its key) of a value already in the bin's unit (ms or bytes)."""
    if value <= 0 or not math.isfinite(value):
        return 0
    index = int(min(value, MAX_VALUE) // width)
    return index * MS_BIN if width == MS_BIN else index


@functools.lru_cache(maxsize=4096)
def exponential_bins(scale: int, offset: int, length: int, factor: float, width: int) -> tuple[int, ...]:
    """The hub bin of each positive bucket of an exponential histogram (values times `factor`)."""
    scale = max(-9, min(scale, 20))  # -10 would make the base 2**1024: no float holds it
    base = 2.0 ** (2.0**-scale)
    out = []
    for index in range(offset, offset + length):
        try:
            lower = base**index
            upper = lower * base
        except OverflowError:
            lower = upper = math.inf
        out.append(bin_of((lower + upper) / 2 * factor, width))
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def explicit_bins(bounds: tuple[float, ...], factor: float, width: int) -> tuple[int, ...]:
    """The hub bin of each bucket of an explicit-bucket histogram but the overflow one."""
    out = []
    lower = 0.0
    for bound in bounds:
        upper = max(bound, lower)
        out.append(bin_of((lower + upper) / 2 * factor, width))
        lower = upper
    return tuple(out)


def add_counts(target: dict[int, int], bins: Sequence[int], counts: Sequence[int]) -> None:
    """Add bucket counts into hub bins (most buckets are empty: only the others reach Python code)."""
    get = target.get
    for key, count in zip(itertools.compress(bins, counts), filter(None, counts), strict=False):
        target[key] = get(key, 0) + count
