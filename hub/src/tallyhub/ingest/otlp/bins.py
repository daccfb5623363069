"""OTLP histogram buckets into the hub's bins (10 ms response times, 1 KB sizes), from precomputed tables.

Each source bucket's whole count goes to the hub bin holding the bucket's middle, so a percentile read
from the hub bins lies within the source bucket, or within one hub bin when buckets are finer than bins.
The first explicit bucket (-inf, b0] is taken as [0, b0]; the overflow bucket (b_last, +inf) as its
lower bound, or the point's max when the exporter sent one.

Exponential buckets are looked up in one table per (scale, unit, bin width): the hub bin of every bucket
index whose middle can fall in a bin other than the first or the last (a few hundred at apitally 1.0's
scale 3), so that a point of any offset and length costs a slice of it. Scales too fine for a table, and
indexes past its ends, are worked out bucket by bucket (cached per layout).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

MS_BIN = 10  # width of a response-time bin in ms (histograms.RESPONSE_TIME_BIN_MS)
SIZE_BIN = 1000  # bytes per size bin (histograms: bytes // 1000)
MAX_VALUE = 1e15  # ms or bytes: larger values share the last bin (bin keys stay within 64 bits)
MAX_TABLE = 4096  # bucket indexes in one table (up to scale 6 for any unit); finer scales: no table
TABLE_MARGIN = 4  # indexes kept past each end of the range where bins change (float rounding)


def bin_of(value: float, width: int) -> int:
    """The hub bin (its key) of a value already in the bin's unit (ms or bytes)."""
    if value <= 0 or not math.isfinite(value):
        return 0
    index = int(min(value, MAX_VALUE) // width)
    return index * MS_BIN if width == MS_BIN else index


def _clamped(scale: int) -> int:
    return max(-9, min(scale, 20))  # -10 would make the base 2**1024: no float holds it


def _bucket_bin(scale: int, index: int, factor: float, width: int) -> int:
    """The hub bin of the middle of positive bucket `index` at `scale` (values times `factor`)."""
    scale = _clamped(scale)
    base = 2.0 ** (2.0**-scale)
    try:
        lower = base**index
        upper = lower * base
    except OverflowError:
        lower = upper = math.inf
    return bin_of((lower + upper) / 2 * factor, width)


Table = tuple[int, tuple[int, ...]]  # (the first index it holds, the bin of each index from there)
# By (scale, factor, width) for scales within what _clamped keeps: 30 scales x a few units x 2 widths.
_tables: dict[tuple[int, float, int], Table] = {}


def _table(scale: int, factor: float, width: int) -> Table:
    """The bins of the bucket indexes whose middles lie from the first bin's edge to MAX_VALUE.

    Empty when that is more than MAX_TABLE indexes (a fine scale); built once per clamped scale.
    """
    scale = _clamped(scale)
    key = (scale, factor, width)
    found = _tables.get(key)
    if found is None:
        per_octave = 2.0**scale
        first = math.floor(math.log2(width / factor) * per_octave) - TABLE_MARGIN
        last = math.ceil(math.log2(MAX_VALUE / factor) * per_octave) + TABLE_MARGIN
        if last - first > MAX_TABLE:
            found = (0, ())
        else:
            found = (first, tuple(_bucket_bin(scale, index, factor, width) for index in range(first, last)))
        _tables[key] = found
    return found


def exponential_bins(scale: int, offset: int, length: int, factor: float, width: int) -> Sequence[int]:
    """The hub bin of each positive bucket of an exponential histogram (values times `factor`)."""
    first, table = _tables.get((scale, factor, width)) or _table(scale, factor, width)
    start = offset - first
    if start >= 0 and start + length <= len(table):
        return table[start : start + length]
    return _exponential_bins(scale, offset, length, factor, width)


@functools.lru_cache(maxsize=1024)
def _exponential_bins(scale: int, offset: int, length: int, factor: float, width: int) -> tuple[int, ...]:
    return tuple(_bucket_bin(scale, index, factor, width) for index in range(offset, offset + length))


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
