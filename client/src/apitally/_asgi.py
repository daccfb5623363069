"""ASGI mechanics shared by ASGI integrations: the wrapped `receive` and `send`, lifespan, recording.

A request runs through an `_Exchange`, whose `send` watches the response: its status, its headers
(Content-Length, and what the log and the validation errors need), and its body, of which at most
`MAX_BODY_SIZE` bytes are kept (only when logged, or for a validation error response): a streamed
body of any length costs bounded memory. The time runs until the last body message was handed to
the server (or the app returned). The request is recorded once the app returned, with the route
template and the consumer the integration reads from the scope then (`AsgiMiddleware.route_of`,
`consumer_of`).

The lifespan: when the app reports its startup complete, the startup payload (the routes, now all
registered) and a first sync are sent before the server is told, within `STARTUP_SYNC_SECONDS`,
then the worker starts; when the app reports its shutdown complete, the client flushes what is
left first. The worker's exit hook flushes at interpreter exit as well (for servers without
lifespan). Every step is inside the guard: a fault of the client is logged, the app runs on and its
messages reach the server unchanged.
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter
from typing import Any
from urllib.parse import quote

from apitally.client.app_telemetry import TelemetryCapture, telemetry_weight
from apitally.client.config import ClientConfig
from apitally.client.consumers import ApitallyConsumer, consumer_identifier
from apitally.client.guard import client_fault
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.masking import (
    BODY_TOO_LARGE,
    HTTPS_HEADERS,
    MAX_BODY_SIZE,
    is_allowed_content_type,
    is_https,
)
from apitally.client.metrics import size_of
from apitally.client.request_log import Captured, ExchangeFields, Telemetry
from apitally.client.validation_errors import Parser, ValidationErrorCounter, detail_errors
from apitally.client.worker import PID_CHECK_INTERVAL, ApitallyClient

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STARTUP_SYNC_SECONDS = 3.0  # the longest a lifespan startup waits for the hub
_HEADERS_WATCHED = {b"content-length": 0, b"content-type": 1, b"content-encoding": 2}  # by lower-cased name
_LEGACY_CONSUMER = "consumer_identifier"  # the request-state key older official clients read


class AsgiClient(ApitallyClient):
    """The core client plus what ASGI frameworks report: validation errors, and a sync on demand."""

    def __init__(self, *args: Any, validation_parse: Parser = detail_errors, **kwargs: Any) -> None:
        self.validation_errors = ValidationErrorCounter(validation_parse)
        super().__init__(*args, **kwargs)

    def sync_payload(self) -> dict[str, Any]:
        payload = super().sync_payload()
        payload["validation_errors"] = self.validation_errors.take()
        return payload

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self.validation_errors.reset()

    def sync_now(self, timeout: float) -> None:
        """Send the startup payload (if not yet accepted) and a sync, one attempt each, within `timeout`."""
        deadline = time.monotonic() + timeout
        if self.enabled and self._send_lock.acquire(timeout=timeout):
            try:
                self._deliver(deadline, 0)
            finally:
                self._send_lock.release()

    def resume(self) -> None:
        """After a lifespan shutdown, let a new lifespan of the same app start the worker again."""
        if self._finished:
            self._finished = False
            self._stop = threading.Event()


class AsgiMiddleware:
    """Measures every HTTP request of an ASGI app; the integration reads routes and consumers."""

    # The responses that carry validation errors: their status, the longest body read, its parser.
    validation_status = 422
    validation_body_max = MAX_BODY_SIZE
    validation_parse = staticmethod(detail_errors)
    # Whether a request with no route (`route_of` None) is still logged (and its consumer noted).
    records_unrouted = True
    # Scope keys the integration sets on each request, removed once it is recorded (they hold
    # objects that hold the scope: kept, each request would be a reference cycle).
    scope_keys: tuple[str, ...] = ()
    # A function of the framework's request (`request_of`) returning its consumer, or None.
    consumer_callback: Callable[[Any], object] | None = None

    def __init__(
        self,
        app: ASGIApp,
        config: ClientConfig,
        logging_config: RequestLoggingConfig,
        startup_data: Callable[[], dict[str, Any]],
    ) -> None:
        self.app = app
        self.client = AsgiClient(
            config, logging_config, startup_data, exchange_fields, validation_parse=self.validation_parse
        )
        self._count = self.client.requests.note  # one list append per request; the worker aggregates
        logger = self.client.request_logger
        self._logging = logger.enabled
        self._log_request_body = logger.enabled and logging_config.log_request_body
        self._log_response_body = logger.enabled and logging_config.log_response_body
        # The app's logs and spans of each logged request (capture_logs, capture_traces), or None.
        self._telemetry = TelemetryCapture.of(config, logger.enabled, logging_config)
        self._worker_started = False
        # `receive` is watched only for what needs its messages: a logged request body, or a
        # disconnect the integration records (else each request saves a wrapper's coroutine).
        self._watch_disconnects = self.watches_disconnects()

    # -- what the integration reads of its framework --------------------------------------------

    def route_of(self, scope: Scope) -> str | None:
        """The route template of a request the app has handled, or None (not counted)."""
        return None

    def consumer_of(self, scope: Scope) -> object:
        """The consumer of a request (a string or an ApitallyConsumer, or None): the one the app set
        (`app_consumer`), else what the `consumer_callback` returns for the framework's request."""
        consumer = self.app_consumer(scope)
        if consumer:
            return consumer
        callback = self.consumer_callback
        if callback is not None:
            request = self.request_of(scope)
            if request is not None:
                return callback(request)
        return None

    def app_consumer(self, scope: Scope) -> object:
        """The consumer the app set: `request.state.apitally_consumer` (the scope's `state`), or the
        deprecated `request.state.consumer_identifier` (with a warning), or None."""
        state = scope.get("state")
        if not state:
            return None
        consumer = state.get("apitally_consumer")
        if consumer:
            return consumer
        consumer = state.get(_LEGACY_CONSUMER)
        if consumer:
            warnings.warn(
                "request.state.consumer_identifier is deprecated, "
                "set request.state.apitally_consumer instead",
                DeprecationWarning,
                stacklevel=2,
            )
            return consumer
        return None

    def request_of(self, scope: Scope) -> Any:
        """The framework's request object for the `consumer_callback` (None: no callback is called)."""
        return None

    def watches_disconnects(self) -> bool:
        """Whether `disconnected_status` may record a status of its own (disconnects are watched)."""
        return False

    def disconnected_status(self, exchange: _Exchange) -> int | None:
        """The status to record for a request whose client went away (None: the app's own)."""
        return None

    def view_name_of(self, scope: Scope) -> str | None:
        """The name of the view function that handled the request (its trace's root span), or None."""
        return None

    def handled_exception_of(self, scope: Scope) -> BaseException | None:
        """The exception the framework turned into a response itself (it reached no middleware)."""
        return None

    # -- the ASGI app ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A coroutine function of its own: servers tell ASGI 3 apps by it (uvicorn does).
        await self.serve(self.app, scope, receive, send)

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run `app` for one ASGI connection, measured (an integration may serve several apps)."""
        client = self.client
        kind = scope["type"]
        if kind != "http" or not client.enabled or scope["method"] == "OPTIONS":
            if kind == "lifespan" and client.enabled:
                await app(scope, receive, self._lifespan_send(send))
            else:
                await app(scope, receive, send)
            return
        try:
            start = perf_counter()
            if start - client.pid_checked > PID_CHECK_INTERVAL:
                client.check_process(start)
            if not self._worker_started:  # served without a lifespan
                self._worker_started = True
                client.start()
            exchange = _Exchange(self, scope, receive, send, start)
            if self._log_request_body and _request_body_logged(scope):
                exchange.request_chunks = []
            watched = exchange.request_chunks is not None or self._watch_disconnects
            app_receive = exchange.receive if watched else receive
        except Exception as fault:
            client_fault(fault, "asgi request")
            await app(scope, receive, send)
            return
        try:
            if self._telemetry is None:
                await app(scope, app_receive, exchange.send)
            else:
                await self._run_capturing(app, scope, exchange, app_receive, self._telemetry)
        except BaseException as exc:
            exchange.exc = exc
            raise
        finally:
            exchange.done()

    async def _run_capturing(
        self, app: ASGIApp, scope: Scope, exchange: _Exchange, receive: Receive, telemetry: TelemetryCapture
    ) -> None:
        """Run the app with its logs and spans captured for the exchange."""
        begun = None
        try:
            begun = telemetry.start()
        except Exception as fault:
            client_fault(fault, "asgi capture start")
        try:
            await app(scope, receive, exchange.send)
        finally:
            if begun is not None:
                try:
                    view_name = self.view_name_of(scope) if telemetry.spans is not None else None
                    exchange.telemetry = telemetry.stop(begun, view_name)
                except Exception as fault:
                    client_fault(fault, "asgi capture stop")

    def _lifespan_send(self, send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "lifespan.startup.complete":
                await self._startup()
            elif kind == "lifespan.shutdown.complete":
                await self._shutdown()
            await send(message)

        return lifespan_send

    async def _startup(self) -> None:
        client = self.client
        try:
            client.resume()
            self._worker_started = True
            # In a thread: building the payload may run the app (its OpenAPI document), and the
            # hub is reached with blocking sockets; the event loop stays free meanwhile.
            await asyncio.to_thread(client.sync_now, STARTUP_SYNC_SECONDS)
        except Exception as fault:
            client_fault(fault, "asgi lifespan startup")
        try:
            client.start()
        except Exception as fault:
            client_fault(fault, "asgi worker start")

    async def _shutdown(self) -> None:
        try:
            await asyncio.to_thread(self.client.shutdown)
            self._worker_started = False
        except Exception as fault:
            client_fault(fault, "asgi lifespan shutdown")


def warn_deprecated_options(identify_consumer_callback: object, request_logging_config: object) -> None:
    """Warn at the integration's caller about the official client's deprecated options (both still work)."""
    if identify_consumer_callback is not None:
        warnings.warn(
            "identify_consumer_callback is deprecated, pass consumer_callback instead",
            DeprecationWarning,
            stacklevel=3,
        )
    if request_logging_config is not None:
        warnings.warn(
            "request_logging_config is deprecated, pass the request-logging options as keyword arguments",
            DeprecationWarning,
            stacklevel=3,
        )


def _request_body_logged(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return _allowed(value)
    return False  # no content type: not a body the log keeps (`is_allowed_content_type(None)`)


_ALLOWED: dict[bytes, bool] = {}  # by Content-Type value: few distinct ones recur


def _allowed(content_type: bytes) -> bool:
    """Whether a body of this Content-Type is kept (`is_allowed_content_type`), cached."""
    allowed = _ALLOWED.get(content_type)
    if allowed is None:
        allowed = is_allowed_content_type(content_type.decode("latin-1"))
        if len(_ALLOWED) < 256:
            _ALLOWED[content_type] = allowed
    return allowed


def _is_json(content_type: bytes | None) -> bool:
    return content_type is not None and content_type.lower().startswith(b"application/json")


class _Exchange:
    """One HTTP request: the wrapped `receive` and `send`, and what is recorded once the app returned."""

    __slots__ = (
        "chunks",
        "client_gone",
        "content_encoding",
        "content_type",
        "end",
        "exc",
        "headers",
        "length",
        "mw",
        "request_chunks",
        "request_size",
        "scope",
        "sent",
        "server_receive",
        "server_send",
        "start",
        "status",
        "telemetry",
    )

    def __init__(self, mw: AsgiMiddleware, scope: Scope, receive: Receive, send: Send, start: float) -> None:
        self.mw = mw
        self.scope = scope
        self.server_receive = receive
        self.server_send = send
        self.start = start
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.length: bytes | None = None
        self.content_type: bytes | None = None
        self.content_encoding: bytes | None = None
        self.sent = 0
        self.end = 0.0
        self.exc: BaseException | None = None
        self.chunks: list[bytes] | None = None
        self.request_chunks: list[bytes] | None = None
        self.request_size = 0
        self.client_gone = False
        self.telemetry: Telemetry | None = None

    async def receive(self) -> Message:
        message = await self.server_receive()
        try:
            kind = message["type"]
            if kind == "http.request":
                chunks = self.request_chunks
                if chunks is not None:
                    body = message.get("body", b"")
                    self.request_size += len(body)
                    if self.request_size <= MAX_BODY_SIZE:
                        chunks.append(body)
                    else:
                        self.request_chunks = [BODY_TOO_LARGE]
            elif kind == "http.disconnect":
                self.client_gone = True
        except Exception as fault:
            client_fault(fault, "asgi receive")
        return message

    def send(self, message: Message) -> Awaitable[None]:
        """The app's `send`: notes the message, then hands it to the server. Not a coroutine function:
        it returns the server's own awaitable, so that the app awaits no coroutine of ours, but for
        the last body message (its end is the request's end) and when disconnects are watched."""
        last = False
        try:
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body", b"")
                sent = self.sent = self.sent + len(body)
                chunks = self.chunks
                if chunks is not None and not (chunks and chunks[0] is BODY_TOO_LARGE):
                    if sent <= MAX_BODY_SIZE:
                        chunks.append(body)
                    else:  # bounded: a longer body is logged as the placeholder
                        chunks[:] = [BODY_TOO_LARGE]
                last = not message.get("more_body", False)
            elif kind == "http.response.start":
                # What `_started` does, inline for the usual response (once per request).
                status = self.status = message["status"]
                headers = self.headers = message.get("headers") or []
                mw = self.mw
                if mw._log_response_body or status == mw.validation_status:
                    self._started(headers)
                else:  # the body is not kept: only the Content-Length is read
                    for name, value in headers:
                        if name == b"content-length" or (
                            not name.islower() and name.lower() == b"content-length"
                        ):
                            self.length = value
        except Exception as fault:
            client_fault(fault, "asgi send")
        if last or self.mw._watch_disconnects:
            return self._send_watched(message, last)
        return self.server_send(message)

    async def _send_watched(self, message: Message, last: bool) -> None:
        try:
            await self.server_send(message)
        except OSError:
            self.client_gone = True  # read only when disconnects are watched (`disconnected_status`)
            raise
        if last:
            self.end = perf_counter()

    def _started(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Read the response headers of a response whose body may be kept (logged, or a validation
        error): its Content-Length, Content-Type and Content-Encoding."""
        length = content_type = None
        for name, value in headers:
            watched = _HEADERS_WATCHED.get(name)
            if watched is None:
                if name.islower():  # the usual spelling, and not one of ours: no lower-cased copy
                    continue
                watched = _HEADERS_WATCHED.get(name.lower())
            if watched == 0:
                length = self.length = value
            elif watched == 1:
                content_type = self.content_type = value
            elif watched == 2:
                self.content_encoding = value
        # The body is kept for the log, and for a validation error response, within the bound.
        if content_type is not None and _allowed(content_type):
            size = size_of(length) if length else None
            self.chunks = [BODY_TOO_LARGE] if size is not None and size > MAX_BODY_SIZE else []

    # -- recording --------------------------------------------------------------------------------

    def done(self) -> None:
        """Note the finished request (and capture it for the log). Faults here never reach the app."""
        mw = self.mw
        scope = self.scope
        try:
            seconds = (self.end or perf_counter()) - self.start
            exc = self.exc
            status = self.status
            if status == 0 and exc is not None:
                status = 500  # no response sent: the server answers 500
            if self.client_gone:
                status = mw.disconnected_status(self) or status
            if exc is None and (status == 500 or mw._logging):
                exc = self.exc = mw.handled_exception_of(scope)
            route = mw.route_of(scope)
            if route is not None or mw.records_unrouted:
                self._record(route, status, exc, seconds)
        except Exception as fault:
            client_fault(fault, "asgi record")
        finally:
            # The exception's traceback holds the frames that hold this exchange (and the scope):
            # kept, they would make a reference cycle of each failed request, for the collector.
            if self.exc is not None:
                self.exc = None
            for key in mw.scope_keys:
                scope.pop(key, None)

    def _record(self, route: str | None, status: int, exc: BaseException | None, seconds: float) -> None:
        mw = self.mw
        scope = self.scope
        consumer = mw.consumer_of(scope)
        if type(consumer) is ApitallyConsumer:  # a flat tuple of strings: untracked by the collector
            consumer = (consumer.identifier, consumer.name, consumer.group)
        method = scope["method"]
        # Sizes as the Content-Length bytes: `size_of` reads them in the worker.
        response_size: int | bytes | None = None  # no response was sent: its size is unknown, not 0
        if self.headers is not None:
            response_size = self.sent if self.length is None else self.length
        request_length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                request_length = value
                break
        described = None  # the server error's (type, message, traceback), described once for both uses
        if route is not None:
            mw._count((consumer, method, route, status, int(seconds / 0.01), request_length, response_size))
            if status == 500:
                if isinstance(exc, Exception):
                    errors = mw.client.server_errors
                    described = errors.describe(exc)
                    errors.note(consumer_identifier(consumer), method, route, described)
            elif status == mw.validation_status and self.chunks and _is_json(self.content_type):
                self._validation_errors(consumer, method, route)
        elif type(consumer) is tuple:
            mw.client.consumers.add_fields(*consumer)
        elif isinstance(consumer, ApitallyConsumer):  # a subclass's, not made a tuple above
            mw.client.consumers.add(consumer)
        if mw._logging:
            self._log(route, consumer, status, seconds, response_size, described)

    def _validation_errors(self, consumer: object, method: str, route: str) -> None:
        assert self.chunks is not None
        body = b"".join(self.chunks)
        if body != BODY_TOO_LARGE and len(body) <= self.mw.validation_body_max:
            encoding = self.content_encoding
            self.mw.client.validation_errors.note(
                consumer_identifier(consumer),
                method,
                route,
                body,
                encoding.decode("latin-1") if encoding else None,
            )

    def _log(
        self,
        route: str | None,
        consumer: object,
        status: int,
        seconds: float,
        response_size: Any,
        described: tuple[str, str, str] | None,
    ) -> None:
        mw = self.mw
        scope = self.scope
        if consumer is not None and type(consumer) is not str:
            consumer = consumer_identifier(consumer)
        request_body = None
        if self.request_chunks:
            request_body = b"".join(self.request_chunks)
        response_body = None
        if mw._log_response_body and self.chunks:
            response_body = b"".join(self.chunks)
        exception = None
        logger = mw.client.request_logger
        if self.exc is not None and isinstance(self.exc, Exception) and logger.config.log_exception:
            exception = described or mw.client.server_errors.describe(self.exc)
        server = scope.get("server")
        # Flat tuples of strings and bytes (see `request_log.Captured`), as the scope has them: the
        # worker makes them into fields (`exchange_fields`).
        raw = (
            scope["method"],
            scope.get("scheme", "http"),
            tuple(server) if server else None,
            scope.get("root_path", ""),
            scope["path"],
            scope.get("query_string", b""),
            tuple(scope["headers"]),
            tuple(self.headers or ()),
        )
        item: Captured = (
            self.start,
            raw,
            route,
            consumer,
            request_body,
            status,
            seconds,
            response_size,
            response_body,
            exception,
            self.telemetry,
        )
        weight = 1024 + 64 * len(raw[6]) + len(request_body or b"") + len(response_body or b"")
        if self.telemetry is not None:
            weight += telemetry_weight(self.telemetry)
        logger.add(item, weight)


_SAFE = "/:@!$&'()*+,;=-._~%"


_FIELDS = {b"content-type": 0, b"content-length": 1, b"user-agent": 2, b"host": 3}
_HTTPS_NAMES = frozenset(name.encode() for name in HTTPS_HEADERS)


_QUOTED: dict[str, str] = {}  # percent-encoded paths by path: the same paths recur
MAX_QUOTED = 4096


def _quoted(path: str) -> str:
    quoted = _QUOTED.get(path)
    if quoted is None:
        quoted = quote(path, safe=_SAFE)
        if len(_QUOTED) >= MAX_QUOTED:
            _QUOTED.clear()
        _QUOTED[path] = quoted
    return quoted


def exchange_fields(raw: tuple[Any, ...]) -> ExchangeFields:
    """The log fields of a capture made by `_Exchange._log` (run by the worker). The headers stay
    the ASGI (name, value) bytes pairs: the logger decodes a pair once, when it first sees it."""
    method, scheme, server, root_path, path, query, request_headers, response_headers = raw
    found: list[str | None] = [None, None, None, None]
    https_pairs = None
    for name, value in request_headers:
        index = _FIELDS.get(name)
        if index is not None:
            found[index] = value.decode("latin-1")
        elif name in _HTTPS_NAMES or (not name.islower() and name.lower() in _HTTPS_NAMES):
            https_pairs = (https_pairs or []) + [(name.decode("latin-1"), value.decode("latin-1"))]
    content_type, length, agent, host = found
    if scheme == "http" and https_pairs and is_https(https_pairs):
        scheme = "https"
    if host is None:
        host = "" if server is None else server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    url = f"{scheme}://{host}{_quoted(root_path + path)}"
    query_text = query.decode("latin-1")
    return (method, url, query_text, request_headers, content_type, length, agent, response_headers)
