"""Span durations in logarithmic bins: 20 per decade from 1 µs, so a percentile read from bins is within 6 %.

Spans last from microseconds to minutes; fixed-width bins (the response times' 10 ms) would put most
spans in the first bin. The bin is stored beside each span, so percentiles come from counts per bin.
"""

from __future__ import annotations

import math

PER_DECADE = 20
MAX_BIN = 32_000  # a SmallInteger; 10^1600 µs is far beyond any span


def bin_of(duration_ms: float) -> int:
    """The bin of a duration: 0 up to 1 µs, then one bin per factor 10^(1/20)."""
    micros = duration_ms * 1000
    if not micros > 1:  # also NaN
        return 0
    return min(int(PER_DECADE * math.log10(micros)), MAX_BIN)


def value_of(bin_index: int) -> float:
    """The duration (ms) a bin stands for: its geometric middle (1 µs for bin 0)."""
    if bin_index <= 0:
        return 0.001
    return 10 ** ((bin_index + 0.5) / PER_DECADE) / 1000
