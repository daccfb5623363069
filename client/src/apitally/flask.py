"""Flask integration: `app.wsgi_app = ApitallyMiddleware(app, client_id=..., env="dev")`.

Flask itself hands the middleware what it already knows: a teardown function stores the matched
rule, `g.apitally_consumer` and any unhandled exception in a small object in the WSGI environ, so
there is no second URL routing. The response body is wrapped so that the time runs until the
server has sent it (`close()`), and its bytes are counted when there is no Content-Length.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from io import BytesIO
from time import perf_counter, time
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Flask, g, request

from apitally.client.config import ClientConfig
from apitally.client.consumers import ApitallyConsumer, consumer_identifier
from apitally.client.guard import client_fault
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.masking import BODY_TOO_LARGE, MAX_BODY_SIZE, is_allowed_content_type
from apitally.client.version import package_versions
from apitally.client.worker import ApitallyClient

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig", "set_consumer"]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


class _RequestState:
    """What one request tells the middleware: status and headers, then rule, consumer and exception."""

    __slots__ = ("consumer", "exc", "headers", "length", "request_body", "rule", "status")

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] | None = None
        self.rule: str | None = None
        self.consumer: object = None
        self.exc: BaseException | None = None
        self.length: str | None = None
        self.request_body: bytes | None = None


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
        logger = self.client.request_logger
        self._logging = logger.enabled
        self._log_request_body = logger.enabled and logging_config.log_request_body
        self._log_response_body = logger.enabled and logging_config.log_response_body
        if config.enabled:
            app.teardown_request(self._teardown)
            self.client.start()

    # -- request path ---------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self.client.enabled or environ.get("REQUEST_METHOD") == "OPTIONS":
            return self.wsgi_app(environ, start_response)
        state = _RequestState()
        environ[self._key] = state

        def capture(status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None) -> Any:
            state.status = status
            state.headers = headers
            return start_response(status, headers, exc_info)

        if self._log_request_body:
            self._read_request_body(environ, state)
        timestamp = time() if self._logging else 0.0
        start = perf_counter()
        try:
            body = self.wsgi_app(environ, capture)
        except BaseException as exc:  # propagated by Flask (debug/testing): still a server error
            if state.status is None:
                state.status = "500 INTERNAL SERVER ERROR"
            state.exc = state.exc or exc
            self._record(environ, state, perf_counter() - start, None, None, timestamp)
            raise
        return _ResponseBody(body, self, environ, state, start, timestamp)

    def _teardown(self, exc: BaseException | None) -> None:
        try:
            req = request._get_current_object()  # type: ignore[attr-defined]
            state = req.environ.get(self._key)
            if state is not None:
                rule = req.url_rule
                state.rule = rule.rule if rule is not None else None
                state.consumer = g.get("apitally_consumer") or _legacy_consumer()
                state.exc = exc
        except Exception as fault:
            client_fault(fault, "flask teardown")

    def _record(
        self,
        environ: WSGIEnvironment,
        state: _RequestState,
        seconds: float,
        sent: int | None,
        response_body: bytes | None,
        timestamp: float,
    ) -> None:
        """Count the finished request (and log it if enabled); faults here never reach the app."""
        try:
            client = self.client
            status = int(state.status[:3]) if state.status else 0
            consumer = state.consumer
            identifier = consumer_identifier(consumer) if consumer else None
            if isinstance(consumer, ApitallyConsumer):
                client.consumers.add(consumer)
            method = environ["REQUEST_METHOD"].upper()
            request_size = _size(environ.get("CONTENT_LENGTH"))
            response_size = _size(state.length) if state.length is not None else sent
            path = state.rule
            if path is not None:
                client.requests.add(identifier, method, path, status, seconds, request_size, response_size)
                if status == 500 and state.exc is not None:
                    client.server_errors.add(identifier, method, path, state.exc)
            if self._logging:
                self._log(environ, state, status, method, identifier, seconds, timestamp, response_body)
        except Exception as fault:
            client_fault(fault, "flask record")

    def _log(
        self,
        environ: WSGIEnvironment,
        state: _RequestState,
        status: int,
        method: str,
        identifier: str | None,
        seconds: float,
        timestamp: float,
        response_body: bytes | None,
    ) -> None:
        headers = _request_headers(environ)
        response_headers = list(state.headers or ())
        request_body = state.request_body
        item: dict[str, Any] = {
            "request": {
                "timestamp": timestamp,
                "method": method,
                "path": state.rule,
                "url": _url(environ),
                "headers": headers,
                "size": _size(environ.get("CONTENT_LENGTH")),
                "consumer": identifier,
                "body": request_body,
            },
            "response": {
                "status_code": status,
                "response_time": seconds,
                "headers": response_headers,
                "size": _size(state.length),
                "body": response_body,
            },
        }
        if state.exc is not None and self.client.request_logger.config.log_exception:
            type_, message, traceback = self.client.server_errors.describe(state.exc)
            item["exception"] = {"type": type_, "message": message, "traceback": traceback}
        size = 512 + len(request_body or b"") + len(response_body or b"")
        size += 64 * (len(headers) + len(response_headers))
        self.client.request_logger.add(item, size)

    def _read_request_body(self, environ: WSGIEnvironment, state: _RequestState) -> None:
        if not is_allowed_content_type(environ.get("CONTENT_TYPE")):
            return
        length = _size(environ.get("CONTENT_LENGTH"))
        if length is None:
            return
        if length > MAX_BODY_SIZE:
            state.request_body = BODY_TOO_LARGE
            return
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = BytesIO(body)
        state.request_body = body

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


class _ResponseBody:
    """The response iterable, wrapped: it counts what is sent and records the request on `close()`."""

    __slots__ = ("_body", "_chunks", "_closed", "_environ", "_mw", "_sent", "_start", "_state", "_timestamp")

    def __init__(
        self,
        body: Iterable[bytes],
        mw: ApitallyMiddleware,
        environ: WSGIEnvironment,
        state: _RequestState,
        start: float,
        timestamp: float,
    ) -> None:
        self._body = body
        self._mw = mw
        self._environ = environ
        self._state = state
        self._start = start
        self._timestamp = timestamp
        self._sent = 0
        self._chunks: list[bytes] | None = None
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        state = self._state
        capture = False
        if state.headers is not None:
            for name, value in state.headers:
                lowered = name.lower()
                if lowered == "content-length":
                    state.length = value
                elif lowered == "content-type" and self._mw._log_response_body:
                    capture = is_allowed_content_type(value)
        if capture:
            if state.length is not None and (_size(state.length) or 0) > MAX_BODY_SIZE:
                self._chunks = [BODY_TOO_LARGE]
            else:
                self._chunks = []
                return self._counting(self._chunks)
        if state.length is not None:
            return iter(self._body)
        return self._counting(None)

    def _counting(self, chunks: list[bytes] | None) -> Iterator[bytes]:
        captured = 0
        for chunk in self._body:
            self._sent += len(chunk)
            if chunks is not None and captured <= MAX_BODY_SIZE:
                captured += len(chunk)
                chunks.append(chunk)
            yield chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            seconds = perf_counter() - self._start
            chunks = self._chunks
            body = None
            if chunks is not None:
                body = b"".join(chunks)
                if len(body) > MAX_BODY_SIZE:
                    body = BODY_TOO_LARGE
            sent = self._sent if self._state.length is None else None
            self._mw._record(self._environ, self._state, seconds, sent, body, self._timestamp)


def set_consumer(identifier: str, name: str | None = None, group: str | None = None) -> None:
    """Set the consumer of the current request (same as `g.apitally_consumer = ApitallyConsumer(...)`)."""
    g.apitally_consumer = ApitallyConsumer(identifier, name=name, group=group)


def _legacy_consumer() -> object:
    value = g.get("consumer_identifier")
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


def _request_headers(environ: WSGIEnvironment) -> list[tuple[str, str]]:
    headers = [(k[5:].replace("_", "-").title(), v) for k, v in environ.items() if k.startswith("HTTP_")]
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    if environ.get("CONTENT_LENGTH"):
        headers.append(("Content-Length", environ["CONTENT_LENGTH"]))
    return headers


def _url(environ: WSGIEnvironment) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    path = quote(path.encode("latin-1", "replace"), safe="/:@!$&'()*+,;=-._~%")
    query = environ.get("QUERY_STRING")
    return f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"
