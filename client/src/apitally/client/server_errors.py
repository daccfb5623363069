"""Server errors: unhandled exceptions per (consumer, method, path, type, message, traceback)."""

from __future__ import annotations

import threading
import traceback
from types import TracebackType
from typing import Any

MAX_MSG_LENGTH = 2048
MAX_TRACEBACK_LENGTH = 65_536
MAX_KEYS = 1000  # distinct errors per sync window
MAX_FORMATTED = 512  # cache of formatted exceptions, by code location
MAX_NOTED = 20_000  # noted, not yet counted; past this the request path counts them

_MSG_SUFFIX = "... (truncated)"
_TB_PREFIX = "... (truncated) ...\n"


def exception_type(exc: BaseException) -> str:
    """The qualified class name, e.g. `builtins.ValueError`."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def exception_message(exc: BaseException) -> str:
    """`str(exc)` stripped, cut to 2,048 characters ending in '... (truncated)'."""
    msg = str(exc).strip()
    if len(msg) > MAX_MSG_LENGTH:
        msg = msg[: MAX_MSG_LENGTH - len(_MSG_SUFFIX)] + _MSG_SUFFIX
    return msg


def exception_traceback(exc: BaseException) -> str:
    """The formatted traceback, stripped, at most 65,536 characters: whole lines kept from the end."""
    lines = traceback.format_exception(exc)
    kept: list[str] = []
    budget = MAX_TRACEBACK_LENGTH - len(_TB_PREFIX)
    for line in reversed(lines):
        if len(line) > budget:
            kept.append(_TB_PREFIX)
            break
        kept.append(line)
        budget -= len(line)
    return "".join(reversed(kept)).strip()


def _signature(exc: BaseException) -> tuple[Any, ...]:
    """What determines the formatted text, cheaply: type, message and code locations (with the chain)."""
    parts: list[Any] = []
    append = parts.append
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        tb: TracebackType | None = cur.__traceback__
        append(type(cur))
        append(str(cur))
        while tb is not None:
            append(id(tb.tb_frame.f_code))  # hashing a code object itself is slow
            append(tb.tb_lineno)
            tb = tb.tb_next
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
        seen += 1
    return tuple(parts)


# A server error as the request path notes it: (consumer, method, path, (type, message, traceback)).
Noted = tuple[Any, str, str, tuple[str, str, str]]


class ServerErrorCounter:
    """Counts server errors; an exception is formatted once per code location, not once per request.

    The request path only appends a flat tuple to a list (`note`, one C call under the GIL, no lock);
    the notes are counted per key when the worker takes them (or, past `MAX_NOTED`, by the request
    path that notes one more), in the order they came, so the same keys are kept within `MAX_KEYS`.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[Any, ...], int] = {}
        self._formatted: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        self._noted: list[Noted] = []
        self._lock = threading.Lock()
        self.dropped = 0

    def describe(self, exc: BaseException) -> tuple[str, str, str]:
        """(type, message, traceback) of `exc`, from the cache when the same error was seen before."""
        sig = _signature(exc)
        described = self._formatted.get(sig)
        if described is None:
            described = (exception_type(exc), exception_message(exc), exception_traceback(exc))
            if len(self._formatted) >= MAX_FORMATTED:
                self._formatted.clear()
            self._formatted[sig] = described
        return described

    def add(self, consumer: str | None, method: str, path: str, exc: BaseException) -> None:
        self.note(consumer, method, path, self.describe(exc))

    def note(self, consumer: str | None, method: str, path: str, described: tuple[str, str, str]) -> None:
        """Count one error already described (`describe`)."""
        noted = self._noted
        noted.append((consumer, method, path, described))
        if len(noted) >= MAX_NOTED:
            self._count()

    def _count(self) -> None:
        with self._lock:
            noted = self._noted
            n = len(noted)
            # Copy, then delete what was copied: notes appended meanwhile stay in the list.
            batch = noted[:n]
            del noted[:n]
            counts = self._counts
            for consumer, method, path, (type_, msg, tb) in batch:
                key = (consumer, method, path, type_, msg, tb)
                count = counts.get(key)
                if count is None and len(counts) >= MAX_KEYS:
                    self.dropped += 1
                    continue
                counts[key] = (count or 0) + 1

    def take(self) -> list[dict[str, Any]]:
        self._count()
        with self._lock:
            counts, self._counts = self._counts, {}
        return [
            {
                "consumer": consumer,
                "method": method,
                "path": path,
                "type": type_,
                "msg": msg,
                "traceback": tb,
                "sentry_event_id": None,
                "error_count": n,
            }
            for (consumer, method, path, type_, msg, tb), n in counts.items()
        ]

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._counts = {}
        self._noted = []
