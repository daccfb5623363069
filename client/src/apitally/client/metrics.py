"""Request metrics per (consumer, method, route template, status): counts, size sums and histograms."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from apitally.client.consumers import ApitallyConsumer

MAX_KEYS = 50_000  # distinct (consumer, method, path, status) per sync window
MAX_NOTED = 20_000  # noted, not yet aggregated; past this the request path aggregates (checked each second)

_Key = tuple[str | None, str, str, int]

# A request as the request path notes it, raw: (consumer, method, path, status, time bin, request
# size, response size). The consumer is a string, an ApitallyConsumer, the (identifier, name, group)
# of one, or None; the status an int or a WSGI status line ("200 OK"); the time bin is
# int(seconds / 0.01); a size is an int, a decimal string or bytes (a Content-Length header) or None.
# Identical notes are counted once, in bulk, by `drain`.
Noted = tuple[object, str, str, "int | str", int, "int | str | bytes | None", "int | str | bytes | None"]


def size_of(value: object) -> int | None:
    """A size in bytes from an int or a Content-Length string (or its latin-1 bytes, as ASGI has
    it); None if unknown or invalid."""
    if value is None:
        return None
    if (type(value) is str and value.isdecimal()) or (type(value) is bytes and value.isdigit()):
        return int(value)
    try:
        size = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return size if size >= 0 else None


def status_code(status: int | str) -> int:
    """The code of a status given as an int or as a status line ("200 OK")."""
    return status if type(status) is int else int(str(status)[:3])


class RequestCounter:
    """Aggregates requests between syncs.

    The request path only appends a tuple to `noted` (`note`, a bound `list.append`); the worker
    aggregates them in bulk (`drain`), where identical tuples are counted in C by `Counter`. A
    request that can only be recorded later, outside any lock (from a finaliser), leaves the
    callable that records it (`later`); the worker calls those first (`finish_late`).
    """

    def __init__(self) -> None:
        # One flat dict of ints per key: "n" is the count, "q" and "r" the request and response
        # size sums; a time bin is keyed by its ms (>= 0), a request size bin by -1 - 2 * KB, a
        # response size bin by -2 - 2 * KB.
        self._entries: dict[_Key, dict[Any, int]] = {}
        self._lock = threading.Lock()
        self.noted: list[Noted] = []
        self.note = self.noted.append
        self.late: list[Callable[[], None]] = []
        self.consumers: Any = None  # a ConsumerRegistry, told about ApitallyConsumer values
        self._statuses: dict[object, int] = {}
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
        with self._lock:
            self._count((consumer, method, path, status), int(seconds / 0.01), request_size, response_size, 1)

    def later(self, record: Callable[[], None]) -> None:
        """Keep `record` (which notes one request) for the worker; past MAX_NOTED it is dropped, counted."""
        if len(self.late) < MAX_NOTED:
            self.late.append(record)  # one C call under the GIL: no lock, safe in a finaliser
        else:
            self.dropped += 1

    def finish_late(self) -> None:
        """Record the requests left by `later` (called by the worker and by `drain`, holding no lock)."""
        late = self.late
        while late:
            late.pop()()

    def drain(self) -> None:
        """Aggregate the requests noted so far (the worker calls this; so does `take`)."""
        if self.late:
            self.finish_late()
        noted = self.noted
        n = len(noted)
        if not n:
            return
        # Copy, then delete what was copied: appends that happen meanwhile stay in the list
        # (each step is one C call under the GIL, so no lock is needed on the request path).
        batch = noted[:n]
        del noted[:n]
        counts = Counter(batch)
        del batch
        statuses = self._statuses
        with self._lock:
            for (consumer, method, path, status, time_bin, request_size, response_size), k in counts.items():
                if type(consumer) is str:
                    identifier: str | None = consumer.strip()[:128] or None
                elif type(consumer) is tuple:
                    identifier = consumer[0] or None
                    if self.consumers is not None:
                        self.consumers.add_fields(*consumer)
                elif isinstance(consumer, ApitallyConsumer):
                    identifier = consumer.identifier or None
                    if self.consumers is not None:
                        self.consumers.add(consumer)
                else:
                    identifier = str(consumer).strip()[:128] or None if consumer else None
                code = statuses.get(status)
                if code is None:
                    code = status_code(status)
                    if len(statuses) < 1000:
                        statuses[status] = code
                key = (identifier, method, path, code)
                self._count(key, time_bin, size_of(request_size), size_of(response_size), k)

    def _count(
        self, key: _Key, time_bin: int, request_size: int | None, response_size: int | None, k: int
    ) -> None:
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= MAX_KEYS:
                self.dropped += k
                return
            entry = self._entries[key] = {"n": 0, "q": 0, "r": 0}
        entry["n"] += k
        code = time_bin * 10 if time_bin > 0 else 0  # 10 ms bins, keyed in ms
        entry[code] = entry.get(code, 0) + k
        if request_size is not None:
            entry["q"] += request_size * k
            code = -1 - 2 * (request_size // 1000)
            entry[code] = entry.get(code, 0) + k
        if response_size is not None:
            entry["r"] += response_size * k
            code = -2 - 2 * (response_size // 1000)
            entry[code] = entry.get(code, 0) + k

    def take(self) -> list[dict[str, Any]]:
        """The aggregates since the last call, as `requests[]` items of the sync payload; resets them."""
        self.drain()
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
        # `noted` stays the same list: the middleware holds its bound `append`.
        self._lock = threading.Lock()
        self._entries = {}
        del self.noted[:]
        del self.late[:]
