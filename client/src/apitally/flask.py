"""Flask integration: `app.wsgi_app = ApitallyMiddleware(app, client_id=..., env="dev")`.

Flask itself hands the middleware what it already knows: its `start_response` call runs inside
the request context, where the matched rule and `g.apitally_consumer` are read (no second URL
routing), and its `handle_exception` hands over an unhandled exception. A Flask response with a
Content-Length gets one more callback on its own `close()` instead of a wrapper around its body.
The WSGI mechanics are `apitally._wsgi`'s.
"""

from __future__ import annotations

import warnings
from typing import Any

from flask import Flask, g
from flask.globals import _cv_app, _cv_request
from werkzeug.wrappers import Response
from werkzeug.wsgi import ClosingIterator

from apitally._wsgi import Exchange, WsgiMiddleware
from apitally.client.config import ClientConfig
from apitally.client.consumers import ApitallyConsumer
from apitally.client.guard import client_fault
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.version import package_versions

__all__ = ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig", "set_consumer"]

_LEGACY = "consumer_identifier"


class _FlaskExchange(Exchange):
    """A Flask request: the rule and consumer come from Flask's contexts, the body from its response
    object (a list of bytes)."""

    def read_context(self) -> None:
        ctx = _cv_request.get(None)
        if ctx is not None:  # Flask calls start_response inside its request context
            rule = ctx.request.url_rule
            self.route = rule.rule if rule is not None else None
            if rule is not None and self.mw._telemetry is not None and self.mw._telemetry.spans is not None:
                view = ctx.app.view_functions.get(rule.endpoint)
                self.view_name = getattr(view, "__name__", None)
            values = _cv_app.get().g.__dict__
            self.consumer = values.get("apitally_consumer") or (
                _LEGACY in values and _legacy_consumer(values)
            )

    def late_route(self) -> str | None:
        return _route(getattr(self.environ.get("werkzeug.request"), "url_rule", None))

    def response_chunks(self, callbacks: list[Any]) -> list[bytes] | None:
        response = getattr(callbacks[-1], "__self__", None)  # the ClosingIterator's last callback
        if not isinstance(response, Response) or response.direct_passthrough:
            return None
        data = response.response
        status = response.status_code
        if type(data) is not list or not 200 <= status < 600 or status in (204, 304):
            return None
        if self.environ["REQUEST_METHOD"] == "HEAD":
            return None
        if not (len(data) == 1 and type(data[0]) is bytes) and not all(type(c) is bytes for c in data):
            return None
        return data[:]


class ApitallyMiddleware(WsgiMiddleware):
    """WSGI middleware that measures every request of a Flask app and syncs to the hub.

    A bad `client_id` or `env` is logged once and the middleware then passes requests through.
    """

    exchange = _FlaskExchange
    closing_iterator = ClosingIterator  # the body of every Flask response

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
        self.app_version = app_version
        self.openapi_url = openapi_url
        if request_logging_config is not None:
            warnings.warn(
                "request_logging_config is deprecated, pass the request-logging options as keyword arguments",
                DeprecationWarning,
                stacklevel=2,
            )
        logging_config = request_logging_config or RequestLoggingConfig.from_kwargs(kwargs)
        config = ClientConfig.build(client_id, env, hub_url, proxy)
        super().__init__(app.wsgi_app, config, logging_config, self._startup_data)
        if config.enabled:
            self._wrap_handle_exception()
            self.client.start()

    def _wrap_handle_exception(self) -> None:
        # Flask calls handle_exception only for unhandled exceptions: the exception (with the rule
        # and consumer, for when Flask re-raises it) is noted in the environ there, at no cost to
        # requests that succeed.
        handle_exception = self.app.handle_exception

        def note_and_handle(e: Exception) -> Any:
            try:
                ctx = _cv_request.get(None)
                if ctx is not None:
                    consumer = _consumer(_cv_app.get().g.__dict__)
                    self.note_exception(ctx.request.environ, e, _route(ctx.request.url_rule), consumer)
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


def set_consumer(identifier: str, name: str | None = None, group: str | None = None) -> None:
    """Set the consumer of the current request (same as `g.apitally_consumer = ApitallyConsumer(...)`)."""
    consumer = ApitallyConsumer(identifier, name=name, group=group)
    ctx = _cv_app.get(None)
    if ctx is None:
        g.apitally_consumer = consumer  # raises Flask's "Working outside of application context."
    else:
        ctx.g.apitally_consumer = consumer  # the `g` proxy's lookup costs more than the consumer


def _route(rule: Any) -> str | None:
    """The template of a matched rule (`rule.rule`), or None."""
    return rule.rule if rule is not None else None


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
