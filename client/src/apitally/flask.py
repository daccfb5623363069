"""Flask integration: `app.wsgi_app = ApitallyMiddleware(app, client_id=..., env="dev")`.

Flask itself hands the middleware what it already knows: its `start_response` call runs inside
the request context, where the matched rule and `g.apitally_consumer` are read (no second URL
routing), and its `handle_exception` hands over an unhandled exception. The response iterable is
wrapped so that the time runs until the server has sent the body (`close()`), and the bytes sent
are counted when there is no Content-Length.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from io import BytesIO
from os import getpid
from time import perf_counter, time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flask import Flask, g
from flask.globals import _cv_app, _cv_request

from apitally.client.config import ClientConfig
from apitally.client.consumers import ApitallyConsumer, consumer_identifier
from apitally.client.guard import client_fault
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.masking import BODY_TOO_LARGE, MAX_BODY_SIZE, is_allowed_content_type
from apitally.client.request_log import Captured
from apitally.client.version import package_versions
from apitally.client.worker import ApitallyClient

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig", "set_consumer"]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
_LEGACY = "consumer_identifier"


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
        self._count = self.client.requests.add
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
        try:
            if client.pid != getpid():
                client.check_process()
            exchange = _Exchange(self, environ, start_response)
            if self._logging:
                exchange.timestamp = time()
                if self._log_request_body:
                    exchange.read_request_body()
        except Exception as fault:
            client_fault(fault, "flask request")
            return self.wsgi_app(environ, start_response)
        exchange.start = perf_counter()
        try:
            exchange.body = self.wsgi_app(environ, exchange.start_response)
        except BaseException as exc:  # propagated by Flask (debug/testing): still a server error
            exchange.propagated(exc)
            raise
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
    """One request: the wrapped `start_response`, then the response iterable handed to the server.

    `start_response` runs inside Flask's contexts, so the matched rule and `g.apitally_consumer` are
    read there (no second routing). The request is recorded on `close()`, once the body was sent.
    """

    # Class-level defaults: a request sets only what it learns (cheaper than a full __init__).
    body: Iterable[bytes] | None = None
    status: str | None = None
    headers: list[tuple[str, str]] | None = None
    length: str | None = None
    rule: Any = None
    consumer: object = None
    exc: BaseException | None = None
    chunks: list[bytes] | None = None
    request_body: bytes | None = None
    timestamp = 0.0
    start = 0.0
    _sent = 0

    def __init__(
        self, mw: ApitallyMiddleware, environ: WSGIEnvironment, start_response: StartResponse
    ) -> None:
        self._mw = mw
        self._environ = environ
        self._start_response = start_response

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None
    ) -> Any:
        self.status = status
        self.headers = headers
        try:
            for name, value in headers:
                if name == "Content-Length" or name.lower() == "content-length":
                    self.length = value
            if self.rule is None:
                ctx = _cv_request.get(None)
                if ctx is not None:  # Flask calls this inside its request context
                    self.rule = ctx.request.url_rule
                    self.consumer = _consumer(_cv_app.get().g.__dict__)
        except Exception as fault:
            client_fault(fault, "flask start_response")
        return self._start_response(status, headers, exc_info)

    def propagated(self, exc: BaseException) -> None:
        self.exc = exc
        if self.status is None:
            self.status = "500 INTERNAL SERVER ERROR"
        self.record(perf_counter() - self.start)

    def read_request_body(self) -> None:
        environ = self._environ
        if not is_allowed_content_type(environ.get("CONTENT_TYPE")):
            return
        length = _size(environ.get("CONTENT_LENGTH"))
        if length is None:
            return
        if length > MAX_BODY_SIZE:
            self.request_body = BODY_TOO_LARGE
            return
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = BytesIO(body)
        self.request_body = body

    def __iter__(self) -> Iterator[bytes]:
        assert self.body is not None
        if self._mw._log_response_body and self._capture_response_body():
            return self._counting(self.chunks)
        if self.length is not None:
            return iter(self.body)
        return self._counting(None)

    def _capture_response_body(self) -> bool:
        content_type = next((v for k, v in self.headers or () if k.lower() == "content-type"), None)
        if not is_allowed_content_type(content_type):
            return False
        if (_size(self.length) or 0) > MAX_BODY_SIZE:
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
            self.record(perf_counter() - self.start)

    def record(self, seconds: float) -> None:
        """Count the finished request (and log it if enabled); faults here never reach the app."""
        try:
            environ = self._environ
            mw = self._mw
            status = int(self.status[:3]) if self.status else 0
            if status == 500:  # an unhandled exception was noted by handle_exception
                noted = environ.get(mw._key)
                if noted is not None:
                    self.exc = self.exc or noted[0]
                    self.rule = self.rule or noted[1]
                    self.consumer = self.consumer or noted[2]
            rule = self.rule
            if rule is None:
                rule = self.rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            consumer = self.consumer
            identifier = None
            if consumer:
                if type(consumer) is str:
                    identifier = consumer.strip()[:128] or None
                else:
                    identifier = consumer_identifier(consumer)
                    if isinstance(consumer, ApitallyConsumer):
                        mw.client.consumers.add(consumer)
            request_size = environ.get("CONTENT_LENGTH") or None
            if request_size is not None:
                request_size = _size(request_size)
            response_size = self._sent if self.length is None else _size(self.length)
            if rule is not None:
                method = environ["REQUEST_METHOD"]
                path = rule.rule
                mw._count(identifier, method, path, status, seconds, request_size, response_size)
                if status == 500 and self.exc is not None:
                    mw.client.server_errors.add(identifier, method, path, self.exc)
            if mw._logging:
                self._log(status, identifier, seconds, request_size, response_size)
        except Exception as fault:
            client_fault(fault, "flask record")

    def _log(
        self, status: int, identifier: str | None, seconds: float, request_size: int | None, size: int | None
    ) -> None:
        environ = self._environ
        request_body = self.request_body
        response_body = None
        if self.chunks is not None:
            response_body = b"".join(self.chunks)
            if len(response_body) > MAX_BODY_SIZE:
                response_body = BODY_TOO_LARGE
        headers = [(k, v) for k, v in environ.items() if k[:5] == "HTTP_"]
        if environ.get("CONTENT_TYPE"):
            headers.append(("CONTENT_TYPE", environ["CONTENT_TYPE"]))
        if environ.get("CONTENT_LENGTH"):
            headers.append(("CONTENT_LENGTH", environ["CONTENT_LENGTH"]))
        response_headers = tuple(self.headers or ())
        exception = None
        if self.exc is not None and self._mw.client.request_logger.config.log_exception:
            exception = self._mw.client.server_errors.describe(self.exc)
        item: Captured = (
            self.timestamp,
            environ["REQUEST_METHOD"],
            self.rule.rule if self.rule is not None else None,
            (
                environ.get("wsgi.url_scheme", "http"),
                environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}",
                environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
                environ.get("QUERY_STRING", ""),
            ),
            tuple(headers),
            request_size,
            identifier,
            request_body,
            status,
            seconds,
            response_headers,
            size,
            response_body,
            exception,
        )
        weight = 512 + len(request_body or b"") + len(response_body or b"")
        self._mw.client.request_logger.add(item, weight + 64 * (len(headers) + len(response_headers)))


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


def _size(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        size = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return size if size >= 0 else None
