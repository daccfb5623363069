"""Request logging: a byte-bounded buffer filled on the request path, spooled to gzip files by the worker."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import deque
from functools import lru_cache
from random import getrandbits
from typing import Any
from urllib.parse import quote

from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.masking import Masker, is_https
from apitally.client.spool import LogFile, temp_dir_writable

logger = logging.getLogger("apitally")

MAX_PENDING_BYTES = 16 * 1024 * 1024  # captured but not yet written; the oldest go first
MAX_FILE_SIZE = 1_000_000  # compressed bytes before a file is closed for upload
MAX_FILES = 50  # closed files waiting for upload; the oldest go first


# A captured request as the request path hands it over: a flat tuple of strings, numbers and bytes
# (which the garbage collector stops tracking while it waits), made into the log line by the worker:
# (timestamp, method, path, (scheme, host, path, query), headers, size, consumer, body,
#  status, response time, response headers, response size, response body, (type, message, traceback))
Captured = tuple[
    float,
    str,
    "str | None",
    tuple[str, str, str, str],
    tuple[tuple[str, str], ...],
    "int | None",
    "str | None",
    "bytes | None",
    int,
    float,
    tuple[tuple[str, str], ...],
    "int | None",
    "bytes | None",
    "tuple[str, str, str] | None",
]


def _json_default(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


def _url(scheme: str, host: str, path: str, query: str) -> str:
    """The request URL from its WSGI pieces (`path` is the latin-1 WSGI string of the raw bytes)."""
    path = quote(path.encode("latin-1", "replace"), safe="/:@!$&'()*+,;=-._~%")
    return f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"


def _uuid4() -> str:
    """A random version-4 UUID string (from `random`: unique enough for a log line, and no syscall)."""
    value = (getrandbits(128) & ~(0xF000 << 64 | 0xC000 << 48)) | (0x4000 << 64 | 0x8000 << 48)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default)  # built once, not per line


@lru_cache(maxsize=1024)
def _header_name(environ_key: str) -> str:
    """`HTTP_USER_AGENT` → `User-Agent`, as Flask spells header names."""
    name = environ_key[5:] if environ_key.startswith("HTTP_") else environ_key
    return name.replace("_", "-").title()


def _without_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not (v is None or (isinstance(v, str | bytes | list) and not v))}


class RequestLogger:
    """Holds captured requests until the worker masks, serialises and writes them to a file."""

    def __init__(self, config: RequestLoggingConfig) -> None:
        self.config = config
        self.masker = Masker(config)
        self.enabled = config.enabled and temp_dir_writable()
        if config.enabled and not self.enabled:
            logger.error("Apitally: request logging disabled, the temp folder is not writable")
        self.suspend_until: float | None = None
        self.dropped = 0
        self.files: deque[LogFile] = deque()
        self._pending: deque[tuple[Captured, int]] = deque()
        self._pending_bytes = 0
        self._file: LogFile | None = None
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()

    def add(self, item: Captured, size: int) -> None:
        """Keep one captured request (about `size` bytes); the oldest are dropped past the byte bound."""
        if self.suspend_until is not None:
            return
        with self._lock:
            self._pending.append((item, size))
            self._pending_bytes += size
            while self._pending_bytes > MAX_PENDING_BYTES and self._pending:
                self._pending_bytes -= self._pending.popleft()[1]
                self.dropped += 1

    def spool(self) -> None:
        """Write every captured request that passes the exclusions, masked, to the current file."""
        with self._lock:
            pending, self._pending = self._pending, deque()
            self._pending_bytes = 0
        if not pending:
            return
        with self._file_lock:
            for item, _ in pending:
                line = self._serialise(item)
                if line is None:
                    continue
                if self._file is None:
                    self._file = LogFile()
                self._file.write(line)
                if self._file.size > MAX_FILE_SIZE:
                    self._close_file()

    def rotate(self) -> None:
        """Close the current file so that it can be uploaded."""
        with self._file_lock:
            self._close_file()

    def _close_file(self) -> None:
        if self._file is None:
            return
        self._file.close()
        if self._file.lines:
            self.files.append(self._file)
        else:
            self._file.delete()
        self._file = None
        while len(self.files) > MAX_FILES:
            oldest = self.files.popleft()
            self.dropped += oldest.lines
            oldest.delete()

    def _serialise(self, item: Captured) -> bytes | None:
        (timestamp, method, path, url, headers, size, consumer, body) = item[:8]
        (status, seconds, response_headers, response_size, response_body, exception) = item[8:]
        request: dict[str, Any] = {
            "timestamp": timestamp,
            "method": method,
            "path": path,
            "url": _url(*url),
            "headers": [(_header_name(k), v) for k, v in headers],
            "size": size,
            "consumer": consumer,
            "body": body,
        }
        response: dict[str, Any] = {
            "status_code": status,
            "response_time": seconds,
            "headers": list(response_headers),
            "size": response_size,
            "body": response_body,
        }
        if request["url"].startswith("http:") and is_https(request["headers"]):
            request["url"] = "https:" + request["url"][5:]
        if self.masker.excluded(request, response):
            return None
        self.masker.apply(request, response)
        for part in (request, response):
            if part["body"] is not None:
                part["body"] = base64.b64encode(part["body"]).decode()
        line: dict[str, Any] = {
            "uuid": _uuid4(),
            "request": _without_empty(request),
            "response": _without_empty(response),
        }
        if exception is not None:
            line["exception"] = {"type": exception[0], "message": exception[1], "traceback": exception[2]}
        return _ENCODER.encode(line).encode()

    def suspend(self, seconds: int) -> None:
        """Stop logging for `seconds` (the hub said 402) and delete everything buffered."""
        self.suspend_until = time.time() + seconds
        self.clear()

    def resume_if_due(self) -> None:
        if self.suspend_until is not None and self.suspend_until <= time.time():
            self.suspend_until = None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._pending_bytes = 0
        with self._file_lock:
            if self._file is not None:
                self._file.delete()
                self._file = None
            while self.files:
                self.files.popleft().delete()

    def forget_after_fork(self) -> None:
        """In a forked child: start empty; the parent's buffer and files are the parent's to send."""
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()
        self._pending = deque()
        self._pending_bytes = 0
        self._file = None
        self.files = deque()
