"""Percentile estimates from 10 ms histograms: linear within the bin, never outside the true value's bin."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tallyhub import histograms
from tallyhub.web import formatting

QS = (0.5, 0.75, 0.95, 0.99)


def test_one_bin_spreads_its_requests_evenly_across_it() -> None:
    # Ten fast requests, all in the 0-10 ms bin: the median is not "5 ms" for every endpoint.
    assert histograms.percentiles({0: 10}, QS, 10) == pytest.approx(
        {0.5: 5.0, 0.75: 7.5, 0.95: 9.5, 0.99: 9.9}
    )
    assert histograms.percentiles({800: 1}, (0.95,), 10) == pytest.approx({0.95: 809.5})


def test_the_rank_is_placed_inside_the_bin_it_falls_in() -> None:
    # 4 requests at 20-30 ms, 4 at 40-50 ms: rank 4 ends the first bin, rank 6 is halfway into the second.
    hist = {20: 4, 40: 4}
    assert histograms.percentiles(hist, (0.5, 0.75), 10) == pytest.approx({0.5: 30.0, 0.75: 45.0})


def test_empty_bins_and_empty_histograms() -> None:
    assert histograms.percentiles({}, QS, 10) == dict.fromkeys(QS)
    assert histograms.percentiles({0: 0, 30: 2}, (0.5,), 10) == pytest.approx({0.5: 35.0})


@given(st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=300))
def test_estimates_stay_in_the_bin_of_the_nearest_rank_percentile(times_ms: list[int]) -> None:
    hist: dict[int, int] = {}
    for t in times_ms:
        hist[t // 10 * 10] = hist.get(t // 10 * 10, 0) + 1
    estimates = histograms.percentiles(hist, QS, 10)
    ordered = sorted(times_ms)
    for q in QS:
        true = ordered[max(1, math.ceil(q * len(ordered))) - 1]
        low = true // 10 * 10
        estimate = estimates[q]
        assert estimate is not None and low <= estimate <= low + 10, (q, true, estimate)


def test_percentiles_are_shown_as_estimates() -> None:
    assert formatting.ms_estimate(4.5) == "≈ 4.5 ms"
    assert formatting.ms_estimate(1204.6) == "≈ 1,205 ms"
    assert formatting.ms_estimate(None) == "–"
    assert formatting.ms(0) == "0 ms" and formatting.ms(10) == "10 ms"
