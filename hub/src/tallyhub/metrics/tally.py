"""Request statistics of one group of metric rows: counts, bytes, mean sizes, percentiles and Apdex."""

from __future__ import annotations

import dataclasses
from typing import Any

from tallyhub import histograms
from tallyhub.histograms import RESPONSE_TIME_BIN_MS, Histogram

PERCENTILES = (0.5, 0.75, 0.95, 0.99)


@dataclasses.dataclass
class Tally:
    """Sums and merged histograms; `add` merges another tally in, `stats` renders the API's Stats."""

    requests: int = 0
    requests_4xx: int = 0
    requests_5xx: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    response_times: Histogram = dataclasses.field(default_factory=dict)
    # The counts of the size histograms are the requests whose size was known (for mean sizes); the
    # histograms themselves are merged only for callers that show them (they cost a query time).
    known_request_sizes: int = 0
    known_response_sizes: int = 0
    request_sizes: Histogram = dataclasses.field(default_factory=dict)
    response_sizes: Histogram = dataclasses.field(default_factory=dict)
    # Error responses an endpoint's settings expect: already left out of requests_4xx and requests_5xx.
    expected: int = 0
    # The response times of endpoints with their own Apdex T, per T (also inside response_times).
    own_t_times: dict[int, Histogram] = dataclasses.field(default_factory=dict)

    def add(self, other: Tally) -> Tally:
        self.requests += other.requests
        self.requests_4xx += other.requests_4xx
        self.requests_5xx += other.requests_5xx
        self.bytes_received += other.bytes_received
        self.bytes_sent += other.bytes_sent
        histograms.merge_into(self.response_times, other.response_times)
        self.known_request_sizes += other.known_request_sizes
        self.known_response_sizes += other.known_response_sizes
        histograms.merge_into(self.request_sizes, other.request_sizes)
        histograms.merge_into(self.response_sizes, other.response_sizes)
        self.expected += other.expected
        for own_t, times in other.own_t_times.items():
            histograms.merge_into(self.own_t_times.setdefault(own_t, {}), times)
        return self

    def apdex(self, apdex_t: int) -> float | None:
        """Apdex with T = apdex_t, except for the requests of endpoints that have their own T."""
        if not self.own_t_times:
            return histograms.apdex(self.response_times, apdex_t)
        total = sum(self.response_times.values())
        if total == 0:
            return None
        points = histograms.apdex_points(self.response_times, apdex_t)
        for own_t, times in self.own_t_times.items():
            points += histograms.apdex_points(times, own_t) - histograms.apdex_points(times, apdex_t)
        return points / (2 * total)

    def stats(self, apdex_t: int) -> dict[str, Any]:
        requests = self.requests
        # Sizes are summed only over requests whose size was known (PROTOCOL.md §7.8).
        known_request_sizes = self.known_request_sizes
        known_response_sizes = self.known_response_sizes
        quantiles = histograms.percentiles(self.response_times, PERCENTILES, RESPONSE_TIME_BIN_MS)
        return {
            "requests": requests,
            "requests_4xx": self.requests_4xx,
            "requests_5xx": self.requests_5xx,
            "error_rate": (self.requests_4xx + self.requests_5xx) / requests if requests else 0.0,
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
            "mean_request_size": self.bytes_received / known_request_sizes if known_request_sizes else None,
            "mean_response_size": self.bytes_sent / known_response_sizes if known_response_sizes else None,
            "p50": quantiles[0.5],
            "p75": quantiles[0.75],
            "p95": quantiles[0.95],
            "p99": quantiles[0.99],
            "apdex": self.apdex(apdex_t),
            "expected_errors": self.expected,
        }
