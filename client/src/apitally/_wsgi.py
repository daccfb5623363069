"""WSGI mechanics shared by WSGI integrations: the wrapped `start_response`, the body, `close`.

The middleware hands each request to an `Exchange`, whose `start_response` runs inside the
framework's call (where a framework reads its route and consumer: `Exchange.read_context`). A
request is recorded once, by the first of: the end of its body's iteration, the server's `close()`
of the response, and the finalisation of the exchange (a server that drops the response unclosed
and unfinished); the time runs until then. A body without a Content-Length is wrapped, which also
counts the bytes sent. Each request is then noted as one tuple, and captured for the request log as
the environ's strings: the worker aggregates the notes and turns the captures into log fields
(`exchange_fields`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache, partial
from io import BytesIO
from itertools import chain
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any
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
from apitally.client.worker import PID_CHECK_INTERVAL, ApitallyClient

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
_NOT_LOGGED = (  # environ entries the request log leaves out: large, or objects (see `Exchange._log`)
    "wsgi.input",
    "wsgi.errors",
    "wsgi.version",
    "wsgi.file_wrapper",
    "werkzeug.request",
    "werkzeug.socket",
    "gunicorn.socket",
)


class WsgiMiddleware:
    """Measures every request of a WSGI app through the integration's `exchange` class."""

    exchange: type[Exchange]
    # A body type whose close() runs the callbacks in its `_callbacks` list and whose iteration
    # calls its `_next`, a `partial(next, iterator)` (Werkzeug's ClosingIterator): given a
    # Content-Length, such a body calls `done` itself, at the end of its iteration and on close().
    closing_iterator: type | None = None

    def __init__(
        self,
        wsgi_app: WSGIApplication,
        config: ClientConfig,
        logging_config: RequestLoggingConfig,
        startup_data: Callable[[], dict[str, Any]],
    ) -> None:
        self.wsgi_app = wsgi_app
        self._key = f"apitally.{id(self)}"
        self.client = ApitallyClient(config, logging_config, startup_data, exchange_fields)
        self._count = self.client.requests.note  # one list append per request; the worker aggregates
        logger = self.client.request_logger
        self._logging = logger.enabled
        self._log_request_body = logger.enabled and logging_config.log_request_body
        self._log_response_body = logger.enabled and logging_config.log_response_body
        # The app's logs and spans of each logged request (capture_logs, capture_traces), or None.
        self._telemetry = TelemetryCapture.of(config, logger.enabled, logging_config)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        client = self.client
        if not client.enabled or environ.get("REQUEST_METHOD") == "OPTIONS":
            return self.wsgi_app(environ, start_response)
        start = perf_counter()
        exchange = self.exchange()
        try:
            if start - client.pid_checked > PID_CHECK_INTERVAL:
                client.check_process(start)
            exchange.mw = self
            exchange.environ = environ
            exchange.server_start_response = start_response
            exchange.start = start
            if self._log_request_body:
                exchange.read_request_body()
        except Exception as fault:
            exchange.finished = True  # the request runs unmeasured
            client_fault(fault, "wsgi request")
            return self.wsgi_app(environ, start_response)
        try:
            if self._telemetry is None:
                body = self.wsgi_app(environ, exchange.start_response)
            else:
                body = self._run_capturing(environ, exchange, self._telemetry)
        except BaseException as exc:  # propagated by the framework (debug/testing): still a server error
            exchange.propagated(exc)
            raise
        # The common case with Werkzeug: no wrapper object sits between the server and the body.
        if type(body) is self.closing_iterator and exchange.length is not None:
            closing: Any = body
            callbacks = getattr(closing, "_callbacks", None)
            iterate = getattr(closing, "_next", None)
            if (
                type(callbacks) is list
                and type(iterate) is partial
                and iterate.func is next
                and (not self._log_response_body or exchange.take_response_body(callbacks))
            ):
                done = exchange.done
                # Its iterator, then `done` (which returns the sentinel None): a chain is a C
                # iterator as cheap per chunk as the partial it replaces.
                closing._next = chain(iterate.args[0], iter(done, None)).__next__
                callbacks.append(done)
                return body
        exchange.body = body
        return exchange

    def _run_capturing(
        self, environ: WSGIEnvironment, exchange: Exchange, telemetry: TelemetryCapture
    ) -> Iterable[bytes]:
        """Run the app with its logs and spans captured for the exchange (those written while the
        app returns its response; a streamed body's later iteration runs outside)."""
        begun = None
        try:
            begun = telemetry.start()
        except Exception as fault:
            client_fault(fault, "wsgi capture start")
        try:
            return self.wsgi_app(environ, exchange.start_response)
        finally:
            if begun is not None:
                try:
                    exchange.telemetry = telemetry.stop(begun, exchange.view_name)
                except Exception as fault:
                    client_fault(fault, "wsgi capture stop")

    def note_exception(
        self, environ: WSGIEnvironment, exc: BaseException, route: str | None, consumer: object
    ) -> None:
        """Note the unhandled exception of a request (with its route and consumer, for when the
        framework re-raises it); the exchange counts it as a server error if the status is 500."""
        environ[self._key] = (exc, route, consumer)


class Exchange:
    """One request: the wrapped `start_response`, and what is recorded once the body was sent.

    The request is noted by `done`, at the end of the body's iteration or on its `close()`, which
    a `closing_iterator` body calls itself; otherwise the exchange is itself the iterable handed to
    the server. An exchange finalised before either (`__del__`) is recorded by the worker.
    """

    # Class-level defaults: a request sets only what it learns (cheaper than a full __init__).
    mw: WsgiMiddleware
    environ: WSGIEnvironment
    server_start_response: StartResponse
    start = 0.0
    body: Iterable[bytes] | None = None
    status = "500 INTERNAL SERVER ERROR"
    headers: list[tuple[str, str]] | None = None
    length: str | None = None
    route: str | None = None  # the route template
    consumer: object = None
    exc: BaseException | None = None
    chunks: list[bytes] | None = None
    request_body: bytes | None = None
    view_name: str | None = None  # the view function's name (the trace's root span), when traced
    telemetry: Telemetry | None = None  # the app's logs and spans, when captured
    finished = False  # recorded (or never to be): later calls of `done` do nothing
    _sent = 0

    # -- what the integration reads of its framework ------------------------------------------

    def read_context(self) -> None:
        """Set `route` and `consumer`; called within `start_response` until `route` is known."""

    def late_route(self) -> str | None:
        """The route template, when `start_response` did not learn it (the request is done)."""
        return None

    def response_chunks(self, callbacks: list[Any]) -> list[bytes] | None:
        """The response body as the framework's response object holds it, reached through the
        callbacks of its `closing_iterator`; None if it has to be watched while it is sent."""
        return None

    # -- the request ------------------------------------------------------------------------------

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None
    ) -> Any:
        self.status = status
        self.headers = headers
        try:
            # Werkzeug spells it "Content-Length" (and puts it last); other spellings are rare.
            for name, value in headers:
                if name == "Content-Length":
                    self.length = value
                    break
            else:
                for name, value in headers:
                    if name.lower() == "content-length":
                        self.length = value
            if self.route is None:
                self.read_context()
        except Exception as fault:
            client_fault(fault, "wsgi start_response")
        return self.server_start_response(status, headers, exc_info)

    def propagated(self, exc: BaseException) -> None:
        self.exc = exc
        self.done()

    def read_request_body(self) -> None:
        environ = self.environ
        if not is_allowed_content_type(environ.get("CONTENT_TYPE")):
            return
        length = size_of(environ.get("CONTENT_LENGTH"))
        if length is None:
            return
        if length > MAX_BODY_SIZE:
            self.request_body = BODY_TOO_LARGE
            return
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = BytesIO(body)
        self.request_body = body

    # -- the iterable, when the body is watched ---------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        assert self.body is not None
        if self.mw._log_response_body and self._capture_response_body():
            return self._counting(self.chunks)
        if self.length is not None:
            return chain(self.body, iter(self.done, None))  # `done` returns the sentinel None
        return self._counting(None)

    def take_response_body(self, callbacks: list[Any]) -> bool:
        """Capture the response body for the log from the framework's response (`response_chunks`);
        False if the body has to be watched while it is sent instead."""
        try:
            if not self._capture_response_body():
                return True  # not logged, or logged as the placeholder
            chunks = self.response_chunks(callbacks)
            if chunks is None:
                return False
            self.chunks = chunks
            return True
        except Exception as fault:
            client_fault(fault, "wsgi response body")
            return False

    def _capture_response_body(self) -> bool:
        """Start capturing the response body, unless its type is not logged or it is too large
        (then it is logged as the placeholder)."""
        content_type = None
        for name, value in self.headers or ():
            if name == "Content-Type" or name.lower() == "content-type":
                content_type = value
                break
        if not is_allowed_content_type(content_type):
            return False
        if (size_of(self.length) or 0) > MAX_BODY_SIZE:
            self.chunks = [BODY_TOO_LARGE]
            return False
        self.chunks = []
        return True

    def _counting(self, chunks: list[bytes] | None) -> Iterator[bytes]:
        assert self.body is not None
        captured = 0
        for chunk in self.body:
            self._sent += len(chunk)
            if chunks is not None and captured <= MAX_BODY_SIZE:
                captured += len(chunk)
                chunks.append(chunk)
            yield chunk
        self.done()

    def close(self) -> None:
        body, self.body = self.body, None
        if body is None:
            return  # closed already
        try:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        finally:
            self.done()

    # -- recording ----------------------------------------------------------------------------------

    def __del__(self) -> None:
        # Dropped before the end of its body and without close(): a test client's response that
        # was neither read nor closed, a server that gives up on a broken connection and skips
        # close(), as Werkzeug's development server does. A finaliser runs in whatever thread
        # drops or collects the exchange, maybe one holding a lock that `done` takes, so the
        # worker records it (which resurrects it until then; it is finalised only once).
        if not self.finished:
            try:
                self.mw.client.requests.later(partial(self.done, perf_counter()))
            except Exception as fault:
                client_fault(fault, "wsgi finaliser")

    def done(self, end: float = 0.0) -> None:
        """Note the finished request (and capture it for the log), once; the time runs until `end`
        (a perf_counter reading), or now. Faults here never reach the app."""
        if self.finished:
            return
        self.finished = True
        seconds = (end or perf_counter()) - self.start
        try:
            environ = self.environ
            mw = self.mw
            route = self.route
            consumer = self.consumer
            noted = environ.get(mw._key)
            if noted is not None or self.exc is not None:
                route, consumer = self._server_error(noted, route, consumer)
            elif route is None:
                route = self.route = self.late_route()
            if route is not None:
                length = self.length
                if type(consumer) is ApitallyConsumer:
                    # Its strings, not the object: a note of strings alone is counted with the
                    # identical ones by `drain`, and the garbage collector stops tracking it (the
                    # notes waiting for the worker would otherwise count towards, and trigger, full
                    # collections).
                    consumer = (consumer.identifier, consumer.name, consumer.group)
                mw._count(
                    (
                        consumer,
                        environ["REQUEST_METHOD"],
                        route,
                        self.status,
                        int(seconds / 0.01),
                        environ.get("CONTENT_LENGTH"),
                        self._sent if length is None else length,
                    )
                )
            elif isinstance(consumer, ApitallyConsumer):
                mw.client.consumers.add(consumer)
            if mw._logging:
                self._log(seconds)
        except Exception as fault:
            client_fault(fault, "wsgi record")

    def _server_error(self, noted: Any, route: str | None, consumer: object) -> tuple[str | None, object]:
        """An unhandled exception (noted by `note_exception`, or propagated): a server error if 500."""
        if self.status[:3] != "500":
            return route, consumer
        if noted is not None:
            self.exc = self.exc or noted[0]
            route = self.route = route or noted[1]
            consumer = self.consumer = consumer or noted[2]
        if route is not None and self.exc is not None:
            method = self.environ["REQUEST_METHOD"]
            self.mw.client.server_errors.add(consumer_identifier(consumer), method, route, self.exc)
        return route, consumer

    def _log(self, seconds: float) -> None:
        environ = self.environ.copy()  # a C-level copy; the worker picks the headers out of it
        # Dropped: what may be large (the input, the request object), and the usual objects that
        # the garbage collector tracks. The capture is kept as flat tuples of strings, which the
        # collector stops tracking on its first pass: the captures waiting for the worker then do
        # not count towards (and trigger) full collections, which would cost the app far more.
        for key in _NOT_LOGGED:
            if key in environ:
                del environ[key]
        environ.pop(self.mw._key, None)
        consumer = self.consumer
        if consumer is not None and type(consumer) is not str:
            consumer = consumer_identifier(consumer)
        request_body = self.request_body
        response_body = None
        chunks = self.chunks
        if chunks is not None:
            response_body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if len(response_body) > MAX_BODY_SIZE:
                response_body = BODY_TOO_LARGE
        exception = None
        logger = self.mw.client.request_logger
        if self.exc is not None and logger.config.log_exception:
            exception = self.mw.client.server_errors.describe(self.exc)
        length = self.length
        item: Captured = (
            self.start,
            # keys and values apart: flat tuples of strings, no pairs (see `exchange_fields`)
            (tuple(environ), tuple(environ.values()), tuple(self.headers or ())),
            self.route,
            consumer,
            request_body,
            self.status,
            seconds,
            self._sent if length is None else length,
            response_body,
            exception,
            self.telemetry,
        )
        weight = 1024 + 64 * len(environ) + len(request_body or b"") + len(response_body or b"")
        if self.telemetry is not None:
            weight += telemetry_weight(self.telemetry)
        logger.add(item, weight)


def exchange_fields(
    raw: tuple[tuple[str, ...], tuple[Any, ...], tuple[tuple[str, str], ...]],
) -> ExchangeFields:
    """The log fields of a capture made by `Exchange._log`: (environ keys, values, response headers)."""
    keys, values, response_headers = raw
    environ = dict(zip(keys, values, strict=True))
    headers = [(name, values[i]) for i, name in _header_positions(keys)]
    content_type = environ.get("CONTENT_TYPE") or None
    if content_type:
        headers.append(("Content-Type", content_type))
    length = environ.get("CONTENT_LENGTH") or None
    if length:
        headers.append(("Content-Length", length))
    scheme = environ.get("wsgi.url_scheme", "http")
    if scheme == "http" and not _HTTPS_KEYS.isdisjoint(keys) and is_https(headers):
        scheme = "https"
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")  # latin-1 strings of the raw bytes
    if _plain_path(path) is None:
        path = quote(path.encode("latin-1", "replace"), safe=_SAFE)
    return (
        environ["REQUEST_METHOD"],
        f"{scheme}://{host}{path}",
        environ.get("QUERY_STRING") or "",
        headers,
        content_type,
        length,
        environ.get("HTTP_USER_AGENT"),
        response_headers,
    )


_HTTPS_KEYS = frozenset("HTTP_" + name.upper().replace("-", "_") for name in HTTPS_HEADERS)
_SAFE = "/:@!$&'()*+,;=-._~%"
_plain_path = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=\-._~%]*").fullmatch  # what `quote` leaves as it is


@lru_cache(maxsize=256)
def _header_positions(keys: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """(position, header name) of the `HTTP_` keys, e.g. `HTTP_USER_AGENT` → `User-Agent` as
    Werkzeug names it; worked out once per key sequence, as a server builds its environs alike."""
    return tuple((i, k[5:].replace("_", "-").title()) for i, k in enumerate(keys) if k.startswith("HTTP_"))
