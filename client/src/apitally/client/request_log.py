"""Request logging: a byte-bounded buffer filled on the request path, spooled to gzip files by the worker."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from binascii import b2a_base64
from collections import deque
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring_ascii
from random import getrandbits
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit

from apitally.client.app_logs import LogEntry
from apitally.client.consumers import consumer_identifier
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.masking import MASKED, Masker
from apitally.client.metrics import size_of, status_code
from apitally.client.spool import LogFile, temp_dir_writable

logger = logging.getLogger("apitally")

MAX_PENDING_BYTES = 16 * 1024 * 1024  # captured but not yet written; the oldest go first
MAX_FILE_SIZE = 1_000_000  # compressed bytes before a file is closed for upload
MAX_FILES = 50  # closed files waiting for upload; the oldest go first


# What the log needs of a request and its response that only the integration can read, made of its
# raw capture by its `read_fields` in the worker: (method, URL (scheme://host/path, the path
# percent-encoded, without the query; the scheme https when a forwarding header says so, see
# `masking.is_https`), query (as sent, without "?"), request headers, the request's Content-Type,
# Content-Length and User-Agent (or None), response headers). Headers are (name, value) pairs,
# named as the framework names them: strings, or latin-1 bytes as ASGI has them (decoded by the
# logger once per distinct pair, see `_fragment`). A plain tuple: a NamedTuple's constructor would be a Python
# call per logged request.
ExchangeFields = tuple[
    str,
    str,
    str,
    "HeaderPairs",
    "str | None",
    "str | None",
    "str | None",
    "HeaderPairs",
]
HeaderPairs = Sequence[tuple[str, str]] | Sequence[tuple[bytes, bytes]]


# A captured request as the request path hands it over; the worker makes it into the log line:
# (start perf_counter, the integration's raw capture (made into `ExchangeFields` by the logger's
#  `read_fields`, in the worker), route template, consumer (a string, or an ApitallyConsumer),
#  request body, status (int or status line), response time, response size (int or Content-Length
#  string), response body, (exception type, message, traceback), `Telemetry` or None). The
#  integration keeps its raw capture cheap to make and, like the rest, flat tuples of strings and
#  numbers (but for the spans' attributes, only when traces are captured): the garbage
#  collector stops tracking them on its first pass (which is also why `read_fields` is the
#  logger's, not part of each item: a function would keep the item tracked).
Captured = tuple[
    float,
    Any,
    "str | None",
    object,
    "bytes | None",
    "int | str",
    float,
    "int | str | None",
    "bytes | None",
    "tuple[str, str, str] | None",
    "Telemetry | None",
]

# What the app logged and traced while handling a request (`capture_logs`, `capture_traces`):
# (log records (see `app_logs.LogEntry`), spans as the `/log` format lists them, trace id (32 hex
# digits) or None).
Telemetry = tuple[tuple[LogEntry, ...], list[dict[str, Any]], "str | None"]

MAX_FRAGMENTS = 4096  # cached JSON of header pairs
MAX_CACHED_VALUE = 256  # characters of a header value whose JSON is cached
MAX_EXCEPTIONS = 64  # cached JSON of exceptions (a traceback is at most 64 KB)
# Uncompressed bytes handed to gzip at once (the file size is checked after each). Large on purpose:
# zlib, crc32 and the file write each release the GIL, and a worker thread that lets it go waits up
# to the switch interval (5 ms) to get it back from a busy request thread, so small writes would
# leave the worker too little time to keep up with a busy app.
WRITE_CHUNK = 2 * 1024 * 1024


def _json_default(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


def _uuid4() -> str:
    """A random version-4 UUID string (from `random`: unique enough for a log line, and no syscall)."""
    value = (getrandbits(128) & ~(0xF000 << 64 | 0xC000 << 48)) | (0x4000 << 64 | 0x8000 << 48)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_string = encode_basestring_ascii  # a JSON string literal, as the encoder writes it (C)
MASKED_JSON = _string(MASKED)
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default)  # built once, not per line


def _telemetry_members(telemetry: Telemetry) -> dict[str, Any]:
    """The `logs`, `spans` and `trace_id` members of a log line, those that have something."""
    entries, spans, trace_id = telemetry
    members: dict[str, Any] = {}
    if entries:
        members["logs"] = [
            {"timestamp": t, "logger": name, "level": level, "message": message, "file": path, "line": line}
            for t, name, level, message, path, line in entries
        ]
    if spans:
        members["spans"] = spans
    if trace_id is not None:
        members["trace_id"] = trace_id
    return members


def _text_pairs(headers: HeaderPairs) -> list[tuple[str, str]]:
    """The header pairs as strings (bytes pairs decoded as latin-1)."""
    pairs: Sequence[tuple[Any, Any]] = headers
    return [
        (name.decode("latin-1"), value.decode("latin-1")) if type(name) is bytes else (name, value)
        for name, value in pairs
    ]


def _content_type(headers: HeaderPairs) -> str | None:
    """The first Content-Type value of the header pairs (strings, or bytes as ASGI has them)."""
    pairs: Sequence[tuple[Any, Any]] = headers
    for name, value in pairs:
        if type(name) is bytes:
            if name == b"content-type" or name.lower() == b"content-type":
                return str(value.decode("latin-1"))
        elif name == "Content-Type" or name.lower() == "content-type":
            return str(value)
    return None


def _without_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not (v is None or (isinstance(v, str | bytes | list) and not v))}


class RequestLogger:
    """Holds captured requests until the worker masks, serialises and writes them to a file."""

    def __init__(self, config: RequestLoggingConfig, read_fields: Callable[[Any], ExchangeFields]) -> None:
        self.config = config
        self.read_fields = read_fields  # the integration's: its raw capture → ExchangeFields
        self.masker = Masker(config)
        self.enabled = config.enabled and temp_dir_writable()
        if config.enabled and not self.enabled:
            logger.error("Apitally: request logging disabled, the temp folder is not writable")
        self.suspend_until: float | None = None
        self.dropped = 0
        self.files: deque[LogFile] = deque()
        # (captured request, its size in bytes): appended by the request path without a lock
        # (`deque.append` is one C call under the GIL), taken from the left by the worker.
        self._pending: deque[tuple[Captured, int]] = deque()
        self._pending_bytes = 0
        # JSON of header pairs, by (name, value), of requests and of responses
        self._request_fragments: dict[Any, str] = {}
        self._response_fragments: dict[Any, str] = {}
        self._exceptions: dict[tuple[str, str, str], str] = {}
        self._file: LogFile | None = None
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()

    def add(self, item: Captured, size: int) -> None:
        """Keep one captured request (about `size` bytes); the oldest are dropped past the byte bound."""
        if self.suspend_until is not None:
            return
        self._pending.append((item, size))
        # Not under a lock: CPython rarely switches threads inside this statement (it checks at calls
        # and loops, not in an integer add), and should an update be lost or a stale total written,
        # the worker recounts the bytes each time it takes the items.
        self._pending_bytes += size
        if self._pending_bytes > MAX_PENDING_BYTES:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        with self._lock:  # against another request thread dropping, and the worker taking
            pending = self._pending
            while self._pending_bytes > MAX_PENDING_BYTES and pending:
                self._pending_bytes -= pending.popleft()[1]
                self.dropped += 1

    def _take_pending(self) -> list[Captured]:
        """The captured requests so far, oldest first (those appended meanwhile stay for the next)."""
        with self._lock:
            pending = self._pending
            taken = [pending.popleft() for _ in range(len(pending))]
            # Recounted (`list` copies in one C call), not decremented: a lost update would stay.
            self._pending_bytes = sum(size for _, size in list(pending))
        return [item for item, _ in taken]

    def spool(self) -> None:
        """Write every captured request that passes the exclusions, masked, to the current file."""
        pending = self._take_pending()
        if not pending:
            return
        clock = time.time() - perf_counter()  # the request path kept perf_counter() readings
        config = self.config
        callbacks = (
            config.exclude_callback or config.mask_request_body_callback or config.mask_response_body_callback
        )
        serialise = self._serialise if callbacks else self._line
        with self._file_lock:
            lines: list[bytes] = []
            size = 0
            for item in pending:
                line = serialise(item, clock)
                if line is not None:
                    lines.append(line)
                    size += len(line)
                    if size > WRITE_CHUNK:
                        self._write(lines)
                        lines, size = [], 0
            if lines:
                self._write(lines)

    def _write(self, lines: list[bytes]) -> None:
        if self._file is None:
            self._file = LogFile()
        self._file.write_lines(lines)
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

    def _line(self, item: Captured, clock: float) -> bytes | None:
        """The log line of `item`, written directly as JSON text (no callbacks are configured).

        It is the line `_serialise` makes, without its dicts: same keys, order and values.
        """
        (
            start,
            raw,
            path,
            consumer,
            body,
            status,
            seconds,
            response_size,
            response_body,
            exception,
            telemetry,
        ) = item
        method, url, query, headers, content_type, length, agent, response_headers = self.read_fields(raw)
        masker, config = self.masker, self.config
        if masker.exclude_path(path or urlsplit(url).path):
            return None
        if agent is not None and masker.exclude_agent(agent):
            return None
        if query and config.log_query_params:
            query = masker.mask_query(query)
            if query:
                url = f"{url}?{query}"
        headers_json = self._headers(headers, self._request_fragments) if config.log_request_headers else ""
        size = size_of(length)
        consumer = consumer_identifier(consumer)
        body = masker.body(body, content_type, config.log_request_body)
        request = (
            f'{{"uuid":"{_uuid4()}","request":{{"timestamp":{start + clock!r},'
            f'"method":{_string(method)}'
            + (f',"path":{_string(path)}' if path else "")
            + f',"url":{_string(url)}'
            + (f',"headers":{headers_json}' if headers_json else "")
            + (f',"size":{size}' if size is not None else "")
            + (f',"consumer":{_string(consumer)}' if consumer else "")
            + (f',"body":"{b2a_base64(body, newline=False).decode()}"' if body else "")
        )
        content_type = _content_type(response_headers)
        headers_json = (
            self._headers(response_headers, self._response_fragments) if config.log_response_headers else ""
        )
        size = size_of(response_size)
        body = masker.body(response_body, content_type, config.log_response_body)
        response = (
            f'}},"response":{{"status_code":{status_code(status)},"response_time":{seconds!r}'
            + (f',"headers":{headers_json}' if headers_json else "")
            + (f',"size":{size}' if size is not None else "")
            + (f',"body":"{b2a_base64(body, newline=False).decode()}"' if body else "")
        )
        if exception is not None:
            response += self._exception_json(exception)
        if telemetry is None:
            return f"{request}{response}}}}}".encode()
        members = _ENCODER.encode(_telemetry_members(telemetry))  # {"logs":…,"spans":…,"trace_id":…}
        if members == "{}":
            return f"{request}{response}}}}}".encode()
        return f"{request}{response}}},{members[1:]}".encode()

    def _exception_json(self, exception: tuple[str, str, str]) -> str:
        """The `exception` member as JSON; cached, as the same errors recur (tracebacks are long)."""
        text = self._exceptions.get(exception)
        if text is None:
            text = (
                f'}},"exception":{{"type":{_string(exception[0])},"message":{_string(exception[1])},'
                f'"traceback":{_string(exception[2])}'
            )
            if len(self._exceptions) >= MAX_EXCEPTIONS:
                self._exceptions.clear()
            self._exceptions[exception] = text
        return text

    def _headers(self, headers: HeaderPairs, cache: dict[Any, str]) -> str:
        """A JSON array of [name, value] pairs, masked; "" if there are none."""
        fragments = []
        for pair in headers:
            fragment = cache.get(pair)
            if fragment is None:
                fragment = self._fragment(pair, cache)
            fragments.append(fragment)
        return "[" + ",".join(fragments) + "]" if fragments else ""

    def _fragment(self, pair: tuple[Any, Any], cache: dict[Any, str]) -> str:
        """`[name, value]` as JSON, the value masked if the name says so; cached, as most header
        pairs repeat from request to request (by the pair as given: strings or bytes)."""
        name, value = pair
        if type(name) is bytes:
            name, value = name.decode("latin-1"), value.decode("latin-1")
        fragment = f"[{_string(name)},{MASKED_JSON if self.masker.mask_header(name) else _string(value)}]"
        if len(value) <= MAX_CACHED_VALUE:  # long values (cookies, tokens) rarely repeat
            if len(cache) >= MAX_FRAGMENTS:
                cache.clear()
            cache[pair] = fragment
        return fragment

    def _serialise(self, item: Captured, clock: float) -> bytes | None:
        """The log line of `item`, through the request and response dicts that the callbacks are given."""
        (
            start,
            raw,
            path,
            consumer,
            body,
            status,
            seconds,
            response_size,
            response_body,
            exception,
            telemetry,
        ) = item
        method, url, query, headers, _, length, _, response_headers = self.read_fields(raw)
        request: dict[str, Any] = {
            "timestamp": start + clock,
            "method": method,
            "path": path,
            "url": f"{url}?{query}" if query else url,
            "headers": _text_pairs(headers),
            "size": size_of(length),
            "consumer": consumer_identifier(consumer),
            "body": body,
        }
        response: dict[str, Any] = {
            "status_code": status_code(status),
            "response_time": seconds,
            "headers": _text_pairs(response_headers),
            "size": size_of(response_size),
            "body": response_body,
        }
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
        if telemetry is not None:
            line.update(_telemetry_members(telemetry))
        return _ENCODER.encode(line).encode()

    def suspend(self, seconds: int) -> None:
        """Stop logging for `seconds` (the hub said 402) and delete everything buffered."""
        self.suspend_until = time.time() + seconds
        self.clear()

    def resume_if_due(self) -> None:
        if self.suspend_until is not None and self.suspend_until <= time.time():
            self.suspend_until = None

    def clear(self) -> None:
        self._take_pending()
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
