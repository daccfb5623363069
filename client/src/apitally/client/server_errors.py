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
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        tb: TracebackType | None = cur.__traceback__
        parts.append(type(cur))
        parts.append(str(cur))
        while tb is not None:
            parts.append(id(tb.tb_frame.f_code))  # hashing a code object itself is slow
            parts.append(tb.tb_lineno)
            tb = tb.tb_next
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
        seen += 1
    return tuple(parts)


class ServerErrorCounter:
    """Counts server errors; an exception is formatted once per code location, not once per request."""

    def __init__(self) -> None:
        self._counts: dict[tuple[Any, ...], int] = {}
        self._formatted: dict[tuple[Any, ...], tuple[str, str, str]] = {}
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
        key = (consumer, method, path, *self.describe(exc))
        with self._lock:
            count = self._counts.get(key)
            if count is None and len(self._counts) >= MAX_KEYS:
                self.dropped += 1
                return
            self._counts[key] = (count or 0) + 1

    def take(self) -> list[dict[str, Any]]:
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
