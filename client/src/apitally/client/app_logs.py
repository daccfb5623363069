"""Application logs of a request (`capture_logs=True`): the records the app writes while a request
is handled, kept with that request's log entry.

One handler on the root logger (and one loguru sink, when loguru is installed) is added once per
process, next to whatever handlers the app has, which it never changes. A request that captures
sets a `LogBuffer` in a context variable for the time the app handles it; the handler appends to
the buffer of the current context and ignores records written outside a request (one context
variable read). The buffer is bounded per request; the records beyond the bounds are counted.

Known flaws, both from the handler on the root logger (the official client has them too):
`logging.basicConfig()` does nothing when the root logger has a handler, so an app that calls it
after the middleware was set up gets no console handler of its own (call it before, or pass
`force=True`); and an app with no handler at all no longer has its warnings printed by Python's
last-resort handler.
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from typing import Any

MAX_RECORDS = 1000  # per request, as the official client
MAX_CHARS = 512 * 1024  # per request: messages, logger names and file paths together
MAX_MESSAGE = 2048  # a longer message is cut to this length, the suffix included (as the official client)
TRUNCATED = "... (truncated)"

# A captured record, flat (no object the garbage collector tracks):
# (timestamp (epoch seconds), logger name, level name, message, file path, line)
LogEntry = tuple[float, str, str, str, str, int]


class LogBuffer:
    """The records of one request, within MAX_RECORDS and MAX_CHARS."""

    __slots__ = ("chars", "dropped", "entries")

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.chars = 0
        self.dropped = 0

    def add(self, created: float, name: str, level: str, message: str, path: str, line: int) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - len(TRUNCATED)] + TRUNCATED
        chars = self.chars + len(message) + len(name) + len(path)
        if len(self.entries) >= MAX_RECORDS or chars > MAX_CHARS:
            self.dropped += 1
            return
        self.chars = chars
        self.entries.append((created, name, level, message, path, line))


current_buffer: ContextVar[LogBuffer | None] = ContextVar("apitally_log_buffer", default=None)


class CaptureHandler(logging.Handler):
    """Appends each record written within a capturing request to that request's buffer."""

    def handle(self, record: logging.LogRecord) -> bool:
        # Overrides Handler.handle: no lock (the buffer belongs to one request) and, outside a
        # request, nothing but the context variable read.
        buffer = current_buffer.get()
        if buffer is None:
            return False
        try:
            message = record.getMessage()
        except Exception:  # the app's own bad format arguments: its handlers report them
            message = str(record.msg)
        buffer.add(record.created, record.name, record.levelname, message, record.pathname, record.lineno)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


_installed = False
_install_lock = threading.Lock()
_handler = CaptureHandler()


def install() -> None:
    """Add the capture handler to the root logger, and the loguru sink, once per process; the handler
    again if a logging setup of the app removed it since (Litestar's replaces the root's handlers)."""
    global _installed
    with _install_lock:
        if not _installed:
            _installed = True
            _add_loguru_sink()
        root = logging.getLogger()
        if _handler not in root.handlers:
            root.addHandler(_handler)


def _add_loguru_sink() -> None:
    try:
        from loguru import logger
    except ImportError:
        return

    def sink(message: Any) -> None:
        buffer = current_buffer.get()
        if buffer is None:
            return
        record = message.record
        buffer.add(
            record["time"].timestamp(),
            record["name"] or "",
            record["level"].name,
            record["message"],
            record["file"].path,
            record["line"],
        )

    # The filter runs before loguru formats anything: outside a request the sink costs one call.
    # At loguru's default level for a sink (DEBUG), as the official client.
    logger.add(sink, format="{message}", filter=lambda _: current_buffer.get() is not None)
