"""Validation errors of FastAPI-style 422 responses, per (consumer, method, path, loc, msg, type).

The request path keeps only the raw response body (already captured, bounded); the worker parses it
when the sync payload is built, so a burst of 422s costs the app one list append each. Only the
location, message and type of each error are kept: never the invalid input value (`input`, `ctx`).
A framework with error bodies of another shape (Litestar's 400s) gives the counter its own parser.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from typing import Any

MAX_PENDING = 10_000  # raw bodies waiting for the worker; past this they are dropped, counted
MAX_KEYS = 1000  # distinct errors per sync window


Error = tuple[tuple[str, ...], str, str]  # loc, msg, type
Parser = Callable[[Any], list[Error]]  # the decoded JSON body -> its errors


def json_body(body: bytes, encoding: str | None) -> Any:
    """The JSON of a response body (gunzipped if need be), or None."""
    if encoding is not None and encoding.lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def detail_errors(data: Any) -> list[Error]:
    """(loc, msg, type) of each item of a `{"detail": [...]}` body; [] if the body is not that."""
    detail = data.get("detail") if isinstance(data, dict) else None
    if not isinstance(detail, list):
        return []
    found = []
    for item in detail:
        if not isinstance(item, dict):
            continue
        loc, msg, type_ = item.get("loc"), item.get("msg"), item.get("type")
        if isinstance(loc, list | tuple) and isinstance(msg, str) and isinstance(type_, str):
            found.append((tuple(str(part) for part in loc), msg, type_))
    return found


class ValidationErrorCounter:
    """Counts validation errors between syncs, from the 422 bodies noted on the request path."""

    def __init__(self, parse: Parser = detail_errors) -> None:
        self._parse = parse
        self._pending: list[tuple[str | None, str, str, bytes, str | None]] = []
        self._counts: dict[tuple[Any, ...], int] = {}
        self._lock = threading.Lock()
        self.dropped = 0

    def note(self, consumer: str | None, method: str, path: str, body: bytes, encoding: str | None) -> None:
        """Keep a validation error response body (JSON) for the worker to parse."""
        if len(self._pending) < MAX_PENDING:
            self._pending.append((consumer, method.upper(), path, body, encoding))  # one C call: no lock
        else:
            self.dropped += 1

    def take(self) -> list[dict[str, Any]]:
        """The validation errors since the last call, as `validation_errors[]` items; resets them."""
        pending = self._pending
        n = len(pending)
        batch = pending[:n]
        del pending[:n]
        with self._lock:
            counts = self._counts
            for consumer, method, path, body, encoding in batch:
                for loc, msg, type_ in self._parse(json_body(body, encoding)):
                    key = (consumer, method, path, loc, msg, type_)
                    if key not in counts and len(counts) >= MAX_KEYS:
                        self.dropped += 1
                        continue
                    counts[key] = counts.get(key, 0) + 1
            self._counts = {}
        return [
            {
                "consumer": consumer,
                "method": method,
                "path": path,
                "loc": list(loc),
                "msg": msg,
                "type": type_,
                "error_count": n,
            }
            for (consumer, method, path, loc, msg, type_), n in counts.items()
        ]

    def reset(self) -> None:
        self._lock = threading.Lock()
        del self._pending[:]
        self._counts = {}
