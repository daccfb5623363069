"""Request metrics per (consumer, method, route template, status): counts, size sums and histograms."""

from __future__ import annotations

import threading
from typing import Any

MAX_KEYS = 50_000  # distinct (consumer, method, path, status) per sync window

_Key = tuple[str | None, str, str, int]


class RequestCounter:
    """Aggregates requests between syncs; `add` is the hot path: one dict entry updated under one lock."""

    def __init__(self) -> None:
        # One flat dict of ints per key, which the garbage collector stops tracking: "n" is the
        # count, "q" and "r" the request and response size sums; a time bin is keyed by its ms
        # (>= 0), a request size bin by -1 - 2 * KB, a response size bin by -2 - 2 * KB.
        self._entries: dict[_Key, dict[Any, int]] = {}
        self._lock = threading.Lock()
        self.dropped = 0

    def add(
        self,
        consumer: str | None,
        method: str,
        path: str,
        status: int,
        seconds: float,
        request_size: int | None,
        response_size: int | None,
    ) -> None:
        """Count one request; sizes are bytes (None when unknown), the time is in seconds."""
        key = (consumer, method, path, status)
        time_bin = int(seconds / 0.01) * 10 if seconds > 0 else 0  # 10 ms bins, keyed in ms
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if len(self._entries) >= MAX_KEYS:
                    self.dropped += 1
                    return
                entry = self._entries[key] = {"n": 0, "q": 0, "r": 0}
            entry["n"] += 1
            entry[time_bin] = entry.get(time_bin, 0) + 1
            if request_size is not None:
                entry["q"] += request_size
                code = -1 - 2 * (request_size // 1000)
                entry[code] = entry.get(code, 0) + 1
            if response_size is not None:
                entry["r"] += response_size
                code = -2 - 2 * (response_size // 1000)
                entry[code] = entry.get(code, 0) + 1

    def take(self) -> list[dict[str, Any]]:
        """The aggregates since the last call, as `requests[]` items of the sync payload; resets them."""
        with self._lock:
            entries, self._entries = self._entries, {}
        rows = []
        for (consumer, method, path, status), entry in entries.items():
            times: dict[int, int] = {}
            request_sizes: dict[int, int] = {}
            response_sizes: dict[int, int] = {}
            for code, n in entry.items():
                if isinstance(code, str):
                    continue
                if code >= 0:
                    times[code] = n
                elif code % 2:
                    request_sizes[(-1 - code) // 2] = n
                else:
                    response_sizes[(-2 - code) // 2] = n
            rows.append(
                {
                    "consumer": consumer,
                    "method": method,
                    "path": path,
                    "status_code": status,
                    "request_count": entry["n"],
                    "request_size_sum": entry["q"],
                    "response_size_sum": entry["r"],
                    "response_times": times,
                    "request_sizes": request_sizes,
                    "response_sizes": response_sizes,
                }
            )
        return rows

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._entries = {}
