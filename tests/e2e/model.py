"""What the read API must report for a list of sent requests, computed from the requests alone."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tests.e2e.traffic import Consumer, Sent

STAT_KEYS = (
    "requests",
    "requests_4xx",
    "requests_5xx",
    "bytes_received",
    "bytes_sent",
    "error_rate",
    "mean_request_size",
    "mean_response_size",
)
FLOAT_KEYS = ("error_rate", "mean_request_size", "mean_response_size")


@dataclasses.dataclass
class Stats:
    """Counts and size sums over requests; a size counts only when the client could know it."""

    requests: int = 0
    requests_4xx: int = 0
    requests_5xx: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    known_request_sizes: int = 0
    known_response_sizes: int = 0

    def add(self, sent: Sent) -> None:
        self.requests += 1
        self.requests_4xx += 400 <= sent.call.status < 500
        self.requests_5xx += sent.call.status >= 500
        if sent.request_size is not None:
            self.bytes_received += sent.request_size
            self.known_request_sizes += 1
        if sent.response_size is not None:
            self.bytes_sent += sent.response_size
            self.known_response_sizes += 1

    def as_api(self) -> dict[str, Any]:
        """The Stats keys of the read API (read-api.md) that follow from counts and sizes."""
        return {
            "requests": self.requests,
            "requests_4xx": self.requests_4xx,
            "requests_5xx": self.requests_5xx,
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
            "error_rate": (self.requests_4xx + self.requests_5xx) / self.requests if self.requests else 0.0,
            # Means divide by the requests whose size was known (PROTOCOL.md §7.8), not by all requests.
            "mean_request_size": _mean(self.bytes_received, self.known_request_sizes),
            "mean_response_size": _mean(self.bytes_sent, self.known_response_sizes),
        }


def _mean(total: int, count: int) -> float | None:
    return total / count if count else None


def api_stats(obj: dict[str, Any]) -> dict[str, Any]:
    """The Stats keys of a read-API object (or of `Stats.as_api`), floats rounded past their noise."""
    picked = {key: obj.get(key, "<missing>") for key in STAT_KEYS}
    for key in FLOAT_KEYS:
        if isinstance(picked[key], float | int):
            picked[key] = round(float(picked[key]), 6)
    return picked


class Expected:
    """Totals, endpoints, consumers and server errors the hub must report for `sent`."""

    def __init__(self, sent: Iterable[Sent]) -> None:
        # The official clients count only requests whose URL matched a route.
        self.sent = [s for s in sent if s.call.route is not None]
        self.totals = Stats()
        self.endpoints: dict[tuple[str, str], Stats] = defaultdict(Stats)
        self.consumers: dict[str, Stats] = defaultdict(Stats)
        self.consumer_info: dict[str, Consumer] = {}
        self.statuses: dict[int, int] = defaultdict(int)
        self.server_errors: dict[tuple[str, str, str, str], list[str | None]] = defaultdict(list)
        self.validation_errors: dict[tuple[str, str, tuple[str, ...], str, str], int] = defaultdict(int)
        for s in self.sent:
            call = s.call
            assert call.route is not None
            self.totals.add(s)
            self.statuses[call.status] += 1
            self.endpoints[(call.method, call.route)].add(s)
            if call.consumer is not None:
                self.consumers[call.consumer.identifier].add(s)
                self.consumer_info[call.consumer.identifier] = call.consumer
            if call.error is not None:
                key = (call.method, call.route, call.error.type, call.error.msg)
                self.server_errors[key].append(call.consumer.identifier if call.consumer else None)
            if call.validation is not None:
                v = call.validation
                self.validation_errors[(call.method, call.route, v.loc, v.msg, v.type)] += 1

    def endpoint_stats(self, routes: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Stats per endpoint: every route the app declares, with zeros for those never called."""
        return {route: api_stats(self.endpoints.get(route, Stats()).as_api()) for route in routes}

    def consumer_rows(self) -> dict[str, dict[str, Any]]:
        return {
            identifier: {
                "name": self.consumer_info[identifier].name,
                "group": self.consumer_info[identifier].group,
                **api_stats(stats.as_api()),
            }
            for identifier, stats in self.consumers.items()
        }

    def server_error_rows(self) -> dict[tuple[str, str, str, str], dict[str, Any]]:
        return {
            key: {"count": len(consumers), "consumers": sorted({c for c in consumers if c is not None})}
            for key, consumers in self.server_errors.items()
        }
