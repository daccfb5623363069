"""Histograms over a range, re-binned for display: response times (ms) and request/response sizes (KB)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tallyhub.histograms import RESPONSE_TIME_BIN_MS
from tallyhub.metrics.tally import Tally

MAX_BINS = 30
SIZE_BIN_BYTES = 1000


def rebin(hist: Mapping[int, int], unit: int, max_bins: int = MAX_BINS) -> list[dict[str, Any]]:
    """[{"low", "high", "count"}] of equal width (a multiple of `unit`) from 0 to the largest bin.

    `hist` keys are bin lower bounds, multiples of `unit` (response times: 0, 10, 20 ms with unit 10;
    sizes: 0, 1, 2 KB with unit 1); `low`/`high` are in the keys' unit. Empty input gives [].
    """
    counts = {k: v for k, v in hist.items() if v}
    if not counts:
        return []
    top = max(counts) + unit  # upper bound of the highest bin
    width = max(1, math.ceil(top / unit / max_bins)) * unit
    bins = [0] * math.ceil(top / width)
    for key, count in counts.items():
        bins[key // width] += count
    return [{"low": i * width, "high": (i + 1) * width, "count": c} for i, c in enumerate(bins)]


def distributions(total: Tally) -> dict[str, list[dict[str, Any]]]:
    """Response times in ms and request/response sizes in bytes, each as at most MAX_BINS bins."""
    return {
        "response_times": rebin(total.response_times, RESPONSE_TIME_BIN_MS),
        "request_sizes": _bytes(rebin(total.request_sizes, 1)),
        "response_sizes": _bytes(rebin(total.response_sizes, 1)),
    }


def _bytes(kb_bins: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**b, "low": b["low"] * SIZE_BIN_BYTES, "high": b["high"] * SIZE_BIN_BYTES} for b in kb_bins]
