"""Flask integration: `app.wsgi_app = ApitallyMiddleware(app, client_id=..., env="dev")`.

Flask itself hands the middleware what it already knows: its `start_response` call runs inside
the request context, where the matched rule and `g.apitally_consumer` are read (no second URL
routing), and its `handle_exception` hands over an unhandled exception. The time runs until the
server has closed the response: a Flask response with a Content-Length gets one more callback on
its own `close()`, anything else is wrapped, which also counts the bytes sent when there is no
Content-Length. Each request is then noted as one tuple; the worker thread aggregates them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from io import BytesIO
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flask import Flask, g
from flask.globals import _cv_app, _cv_request
from werkzeug.wrappers import Response
from werkzeug.wsgi import ClosingIterator

from apitally.client.config import ClientConfig
from apitally.client.consumers import ApitallyConsumer, consumer_identifier
from apitally.client.guard import client_fault
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.masking import BODY_TOO_LARGE, MAX_BODY_SIZE, is_allowed_content_type
from apitally.client.metrics import size_of
from apitally.client.request_log import Captured
from apitally.client.version import package_versions
from apitally.client.worker import PID_CHECK_INTERVAL, ApitallyClient

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig", "set_consumer"]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
_LEGACY = "consumer_identifier"
_NOT_LOGGED = (  # environ entries the request log leaves out: large, or objects (see `_Exchange._log`)
    "wsgi.input",
    "wsgi.errors",
    "wsgi.version",
    "wsgi.file_wrapper",
    "werkzeug.request",
    "werkzeug.socket",
    "gunicorn.socket",
)


class ApitallyMiddleware:
    """WSGI middleware that measures every request of a Flask app and syncs to the hub.

    A bad `client_id` or `env` is logged once and the middleware then passes requests through.
    """

    def __init__(
        self,
        app: Flask,
        client_id: str,
        env: str = "dev",
        app_version: str | None = None,
        openapi_url: str | None = None,
        proxy: str | None = None,
        request_logging_config: RequestLoggingConfig | None = None,
        *,
        hub_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.wsgi_app: WSGIApplication = app.wsgi_app
        self.app_version = app_version
        self.openapi_url = openapi_url
        self._key = f"apitally.{id(self)}"
        if request_logging_config is not None:
            warnings.warn(
                "request_logging_config is deprecated, pass the request-logging options as keyword arguments",
                DeprecationWarning,
                stacklevel=2,
            )
        logging_config = request_logging_config or RequestLoggingConfig.from_kwargs(kwargs)
        config = ClientConfig.build(client_id, env, hub_url, proxy)
        self.client = ApitallyClient(config, logging_config, self._startup_data)
        self._count = self.client.requests.note  # one list append per request; the worker aggregates
        logger = self.client.request_logger
        self._logging = logger.enabled
        self._log_request_body = logger.enabled and logging_config.log_request_body
        self._log_response_body = logger.enabled and logging_config.log_response_body
        if config.enabled:
            self._wrap_handle_exception()
            self.client.start()

    # -- request path ---------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        client = self.client
        if not client.enabled or environ.get("REQUEST_METHOD") == "OPTIONS":
            return self.wsgi_app(environ, start_response)
        start = perf_counter()
        try:
            if start - client.pid_checked > PID_CHECK_INTERVAL:
                client.check_process(start)
            exchange = _Exchange()
            exchange.mw = self
            exchange.environ = environ
            exchange.server_start_response = start_response
            exchange.start = start
            if self._log_request_body:
                exchange.read_request_body()
        except Exception as fault:
            client_fault(fault, "flask request")
            return self.wsgi_app(environ, start_response)
        try:
            body = self.wsgi_app(environ, exchange.start_response)
        except BaseException as exc:  # propagated by Flask (debug/testing): still a server error
            exchange.propagated(exc)
            raise
        # The common case, a Flask response with a Content-Length: its own close() calls `done`,
        # so no wrapper object sits between the server and the body.
        if type(body) is ClosingIterator and exchange.length is not None:
            callbacks = getattr(body, "_callbacks", None)
            if type(callbacks) is list and (
                not self._log_response_body or exchange.take_response_body(callbacks)
            ):
                callbacks.append(exchange.done)
                return body
        exchange.body = body
        return exchange

    def _wrap_handle_exception(self) -> None:
        # Flask calls handle_exception only for unhandled exceptions: the exception (with the rule
        # and consumer, for when Flask re-raises it) is noted in the environ there, at no cost to
        # requests that succeed.
        handle_exception = self.app.handle_exception
        key = self._key

        def note_and_handle(e: Exception) -> Any:
            try:
                ctx = _cv_request.get(None)
                if ctx is not None:
                    consumer = _consumer(_cv_app.get().g.__dict__)
                    ctx.request.environ[key] = (e, ctx.request.url_rule, consumer)
            except Exception as fault:
                client_fault(fault, "flask handle_exception")
            return handle_exception(e)

        self.app.handle_exception = note_and_handle  # type: ignore[method-assign]

    # -- startup --------------------------------------------------------------------------------

    def _startup_data(self) -> dict[str, Any]:
        """The `/startup` payload body (built by the worker, after the app's routes are registered)."""
        data: dict[str, Any] = {}
        if self.openapi_url and (openapi := self._openapi()) is not None:
            data["openapi"] = openapi
        paths = [
            {"path": rule.rule, "method": method}
            for rule in self.app.url_map.iter_rules()
            if rule.endpoint != "static"
            for method in sorted(rule.methods or ())
            if method not in ("HEAD", "OPTIONS")
        ]
        if paths:
            data["paths"] = paths
        data["versions"] = package_versions("flask", app_version=self.app_version)
        data["client"] = "python:flask"
        return data

    def _openapi(self) -> str | None:
        from werkzeug.test import Client

        # The app's own stack, not this middleware: fetching the document is not API traffic.
        response = Client(self.wsgi_app).get(self.openapi_url)
        if response.status_code != 200:
            return None
        return response.get_data(as_text=True)


class _Exchange:
    """One request: the wrapped `start_response`, and what is recorded once the body was sent.

    `start_response` runs inside Flask's contexts, so the matched rule and `g.apitally_consumer` are
    read there (no second routing). The request is noted by `done`, which the response's own
    `close()` calls; when the body has to be watched (no Content-Length, or its bytes are logged),
    the exchange is itself the iterable handed to the server.
    """

    # Class-level defaults: a request sets only what it learns (cheaper than a full __init__).
    mw: ApitallyMiddleware
    environ: WSGIEnvironment
    server_start_response: StartResponse
    start = 0.0
    body: Iterable[bytes] | None = None
    status = "500 INTERNAL SERVER ERROR"
    headers: list[tuple[str, str]] | None = None
    length: str | None = None
    rule: Any = None
    consumer: object = None
    exc: BaseException | None = None
    chunks: list[bytes] | None = None
    request_body: bytes | None = None
    _sent = 0

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
            if self.rule is None:
                ctx = _cv_request.get(None)
                if ctx is not None:  # Flask calls this inside its request context
                    self.rule = ctx.request.url_rule
                    values = _cv_app.get().g.__dict__
                    self.consumer = values.get("apitally_consumer") or (
                        _LEGACY in values and _legacy_consumer(values)
                    )
        except Exception as fault:
            client_fault(fault, "flask start_response")
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

    def take_response_body(self, callbacks: list[Any]) -> bool:
        """Capture the response body for the log from Flask's response object, which holds it as a
        list of bytes; False if the body has to be watched while it is sent instead."""
        try:
            content_type = None
            for name, value in self.headers or ():
                if name == "Content-Type" or name.lower() == "content-type":
                    content_type = value
                    break
            if not is_allowed_content_type(content_type):
                return True  # not logged
            if (size_of(self.length) or 0) > MAX_BODY_SIZE:
                self.chunks = [BODY_TOO_LARGE]
                return True
            response = getattr(callbacks[-1], "__self__", None)  # the ClosingIterator's last callback
            if not isinstance(response, Response) or response.direct_passthrough:
                return False
            data = response.response
            status = response.status_code
            if type(data) is not list or not 200 <= status < 600 or status in (204, 304):
                return False
            if self.environ["REQUEST_METHOD"] == "HEAD":
                return False
            if not (len(data) == 1 and type(data[0]) is bytes) and not all(type(c) is bytes for c in data):
                return False
            self.chunks = data[:]
            return True
        except Exception as fault:
            client_fault(fault, "flask response body")
            return False

    # -- the iterable, when the body is watched ---------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        assert self.body is not None
        if self.mw._log_response_body and self._capture_response_body():
            return self._counting(self.chunks)
        if self.length is not None:
            return iter(self.body)
        return self._counting(None)

    def _capture_response_body(self) -> bool:
        content_type = next((v for k, v in self.headers or () if k.lower() == "content-type"), None)
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

    def done(self) -> None:
        """Note the finished request (and capture it for the log); faults here never reach the app."""
        seconds = perf_counter() - self.start
        try:
            environ = self.environ
            mw = self.mw
            rule = self.rule
            consumer = self.consumer
            noted = environ.get(mw._key)
            if noted is not None or self.exc is not None:
                rule, consumer = self._server_error(noted, rule, consumer)
            elif rule is None:
                rule = self.rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            if rule is not None:
                length = self.length
                mw._count(
                    (
                        consumer,
                        environ["REQUEST_METHOD"],
                        rule.rule,
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
            client_fault(fault, "flask record")

    def _server_error(self, noted: Any, rule: Any, consumer: object) -> tuple[Any, object]:
        """An unhandled exception (noted by handle_exception, or propagated): counted as a server error."""
        if self.status[:3] != "500":
            return rule, consumer
        if noted is not None:
            self.exc = self.exc or noted[0]
            rule = self.rule = rule or noted[1]
            consumer = self.consumer = consumer or noted[2]
        if rule is not None and self.exc is not None:
            method = self.environ["REQUEST_METHOD"]
            self.mw.client.server_errors.add(consumer_identifier(consumer), method, rule.rule, self.exc)
        return rule, consumer

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
            tuple(environ),
            tuple(environ.values()),  # keys and values apart: flat tuples of strings, no pairs
            self.rule.rule if self.rule is not None else None,
            consumer,
            request_body,
            self.status,
            seconds,
            tuple(self.headers or ()),
            self._sent if length is None else length,
            response_body,
            exception,
        )
        weight = 1024 + 64 * len(environ) + len(request_body or b"") + len(response_body or b"")
        logger.add(item, weight)


def set_consumer(identifier: str, name: str | None = None, group: str | None = None) -> None:
    """Set the consumer of the current request (same as `g.apitally_consumer = ApitallyConsumer(...)`)."""
    g.apitally_consumer = ApitallyConsumer(identifier, name=name, group=group)


def _consumer(values: dict[str, Any]) -> object:
    """The consumer set on `g` (its attribute dict), if any."""
    return values.get("apitally_consumer") or (values.get(_LEGACY) and _legacy_consumer(values))


def _legacy_consumer(values: dict[str, Any]) -> object:
    value = values.get(_LEGACY)
    if value:
        warnings.warn(
            "g.consumer_identifier is deprecated, set g.apitally_consumer instead",
            DeprecationWarning,
            stacklevel=2,
        )
    return value
