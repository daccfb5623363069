"""Property: an exponential histogram's buckets get the same hub bins from the per-scale tables as worked
out bucket by bucket from the bucket's bounds, at every scale, offset and length (table ends included)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from tallyhub.ingest.otlp import bins
from tallyhub.ingest.otlp.metrics import MS_PER_UNIT

UNITS = st.sampled_from(
    [(factor, bins.MS_BIN) for factor in MS_PER_UNIT.values()] + [(1.0, bins.SIZE_BIN), (1.0, bins.MS_BIN)]
)


def bucket_bin(scale: int, index: int, factor: float, width: int) -> int:
    """The bin of the middle of bucket (base**index, base**(index + 1)], base = 2**(2**-scale)."""
    base = 2.0 ** (2.0 ** -max(-9, min(scale, 20)))
    try:
        lower = base**index
        upper = lower * base
    except OverflowError:
        lower = upper = math.inf
    return bins.bin_of((lower + upper) / 2 * factor, width)


@settings(max_examples=400, deadline=None)
@given(
    st.integers(-12, 24),
    st.one_of(st.integers(-600, 600), st.integers(-(2**31), 2**31 - 1)),
    st.integers(0, 300),
    UNITS,
)
def test_table_bins_equal_bucket_by_bucket_bins(scale: int, offset: int, length: int, unit: tuple) -> None:
    factor, width = unit
    got = list(bins.exponential_bins(scale, offset, length, factor, width))
    assert got == [bucket_bin(scale, i, factor, width) for i in range(offset, offset + length)]


def test_every_index_of_a_table_and_past_its_ends() -> None:
    for scale in (-9, 0, 3, 6):
        first, table = bins._table(scale, 1000.0, bins.MS_BIN)
        assert table, scale  # coarse scales have a table
        for offset in range(first - 3, first + len(table) + 3):
            assert list(bins.exponential_bins(scale, offset, 1, 1000.0, bins.MS_BIN)) == [
                bucket_bin(scale, offset, 1000.0, bins.MS_BIN)
            ]


def test_fine_scales_have_no_table_and_tables_stay_few() -> None:
    assert bins._table(20, 1000.0, bins.MS_BIN) == (0, ())
    for scale in range(-100, 100):
        bins.exponential_bins(scale, 0, 4, 1000.0, bins.MS_BIN)
    assert len([k for k in bins._tables if k[1:] == (1000.0, bins.MS_BIN)]) <= 30  # one per clamped scale
