"""Litestar integration: `Litestar(..., plugins=[ApitallyPlugin(client_id=..., env="dev")])`.

The plugin measures the app once, at its ASGI interface: when Litestar hands it the app's first
route (`receive_route`, while the app is built), it extends the app's class with a `__call__` that
serves each HTTP request through the shared core, as `apitally.blacksheep` does. No middleware of
Litestar's is added to any route (a route with one gets a second exception handler of Litestar's
around it, a cost on every request). The route template is read from the handler Litestar leaves
in the scope once the app returned, built from the handler's layers (app, routers, controller,
handler), once per handler; a request no handler took (Litestar's 404 or 405) is neither counted
nor logged. Litestar turns every exception into a response itself, so the exception hook keeps it
in the scope for the server error and the log (removed once the request is recorded); its 400
validation errors ("extra": key, message, source) are read from the response body. Requests to the
OpenAPI schema are not recorded. The consumer is `request.state.apitally_consumer`, else the
`consumer_callback`. The ASGI mechanics are `apitally._asgi`'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from litestar.app import DEFAULT_OPENAPI_CONFIG, Litestar
from litestar.config.app import AppConfig
from litestar.connection import Request
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.plugins import InitPluginProtocol, ReceiveRoutePlugin

from apitally._asgi import AsgiMiddleware, Receive, Scope, Send, warn_deprecated_options
from apitally.client import app_logs
from apitally.client.config import ClientConfig
from apitally.client.consumers import ApitallyConsumer
from apitally.client.guard import client_fault
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.validation_errors import Error
from apitally.client.version import package_versions

__all__ = ["ApitallyConsumer", "ApitallyPlugin", "RequestLoggingConfig", "set_consumer"]

ConsumerCallback = Callable[[Request], "str | ApitallyConsumer | None"]
_EXCEPTION = "apitally.exception"  # the scope key of the exception Litestar handled


class ApitallyPlugin(InitPluginProtocol, ReceiveRoutePlugin):
    """Measures every request of a Litestar app and syncs to the hub.

    A bad `client_id` or `env` is logged once and the plugin then lets requests pass unmeasured.
    """

    def __init__(
        self,
        client_id: str,
        env: str = "dev",
        app_version: str | None = None,
        filter_openapi_paths: bool = True,
        consumer_callback: ConsumerCallback | None = None,
        proxy: str | None = None,
        identify_consumer_callback: ConsumerCallback | None = None,
        request_logging_config: RequestLoggingConfig | None = None,
        *,
        hub_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        warn_deprecated_options(identify_consumer_callback, request_logging_config)
        logging_config = request_logging_config or RequestLoggingConfig.from_kwargs(kwargs)
        config = ClientConfig.build(client_id, env, hub_url, proxy)
        self._core = _LitestarMiddleware(
            config,
            logging_config,
            app_version=app_version,
            filter_openapi_paths=filter_openapi_paths,
            consumer_callback=consumer_callback or identify_consumer_callback,
        )
        self.client = self._core.client

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.on_startup.append(self._core.on_startup)
        app_config.on_shutdown.append(self._core.on_shutdown)
        app_config.after_exception.append(_keep_exception)
        return app_config

    def receive_route(self, route: Any) -> None:
        """Litestar's hook for each route registered: the first one gives the app, measured from then on."""
        try:
            handlers = getattr(route, "route_handlers", None) or [getattr(route, "route_handler", None)]
            if handlers[0] is not None:
                self._core.measure(handlers[0].app)
        except Exception as fault:
            client_fault(fault, "litestar receive_route")


def set_consumer(
    request: Request, identifier: str, name: str | None = None, group: str | None = None
) -> None:
    """Set the consumer of `request` (same as `request.state.apitally_consumer = ApitallyConsumer(...)`)."""
    request.state.apitally_consumer = ApitallyConsumer(identifier, name=name, group=group)


def _validation_errors(data: Any) -> list[Error]:
    """(loc, msg, type) of each error of Litestar's 400 validation body (`detail`, `extra`); the loc
    is the error's source (body when not given) then its dotted key, the type is unknown (empty)."""
    if not isinstance(data, dict):
        return []
    detail, extra = data.get("detail"), data.get("extra")
    if not isinstance(detail, str) or "validation" not in detail.lower() or not isinstance(extra, list):
        return []
    found = []
    for item in extra:
        if isinstance(item, dict):
            key, message = item.get("key"), item.get("message")
            if isinstance(key, str) and isinstance(message, str):
                source = item.get("source") or "body"
                found.append(((str(source), *key.split(".")), message, ""))
    return found


async def _keep_exception(exception: Any, scope: Any) -> None:
    """Litestar's after_exception hook: the exception it answers itself, for the core. A coroutine
    function: Litestar runs a plain function hook in its thread pool (a thread hop per exception)."""
    try:
        scope[_EXCEPTION] = exception
    except Exception as fault:
        client_fault(fault, "litestar after_exception")


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The core's own app: none (the measured app's `__call__` hands its own to `serve`)."""


class _LitestarMiddleware(AsgiMiddleware):
    """The shared ASGI core, serving the app of every route Litestar wraps with `middleware`."""

    client_name = "python:litestar"
    validation_status = 400
    validation_body_max = 4095  # as the official client: longer 400 bodies are not read
    validation_parse = staticmethod(_validation_errors)
    records_unrouted = False  # Litestar's 404s and 405s, and the schema's requests (as before: unseen)
    scope_keys = (_EXCEPTION,)

    def __init__(
        self,
        config: ClientConfig,
        logging_config: RequestLoggingConfig,
        *,
        app_version: str | None,
        filter_openapi_paths: bool,
        consumer_callback: ConsumerCallback | None,
    ) -> None:
        self.app_version = app_version
        self.filter_openapi_paths = filter_openapi_paths
        self.consumer_callback = consumer_callback
        self.openapi_path = "/schema"  # Litestar's default; the app's own is read at startup
        self.litestar: Litestar | None = None
        # id(handler) -> (the handler, its route template or None, whether it is left unwatched)
        self._routes: dict[int, tuple[Any, str | None, bool]] = {}
        super().__init__(_no_app, config, logging_config, self._startup_data)

    # -- Litestar's hooks -----------------------------------------------------------------------

    def measure(self, app: Litestar) -> None:
        """Extend the app's class (once) so that each HTTP request is served through this core."""
        if isinstance(app, _MeasuredLitestar):
            return
        app.__class__ = _measured_class(type(app), self, app)

    async def on_startup(self, app: Litestar) -> None:
        try:
            self.litestar = app
            self.openapi_path = _openapi_path(app) or self.openapi_path
            self._routes.clear()  # templates made before, with the default schema path
            if self._telemetry is not None and self._telemetry.logs:
                app_logs.install()  # the app's logging setup (made after the plugin's) dropped the handler
        except Exception as fault:
            client_fault(fault, "litestar startup")
        await self._startup()

    async def on_shutdown(self) -> None:
        await self._shutdown()

    # -- the request ----------------------------------------------------------------------------

    def route(self, handler: Any) -> tuple[Any, str | None, bool]:
        """The handler's route template and whether it is left unwatched (made once per handler)."""
        known = self._routes.get(id(handler))
        if known is not None and known[0] is handler:
            return known
        template = _template(handler)
        skipped = template is not None and self._filtered(template)
        known = self._routes[id(handler)] = (handler, template, skipped)
        return known

    def _filtered(self, path: str) -> bool:
        schema = self.openapi_path
        if not (self.filter_openapi_paths and schema):
            return False
        return path == schema or path.startswith(schema + "/")

    def route_of(self, scope: Scope) -> str | None:
        handler = scope.get("route_handler")
        if handler is None:
            return None
        known = self._routes.get(id(handler))  # `route`'s lookup, without its call on each request
        if known is None or known[0] is not handler:
            known = self.route(handler)
        return None if known[2] else known[1]

    def request_of(self, scope: Scope) -> Request:
        return Request(cast(Any, scope))

    def handled_exception_of(self, scope: Scope) -> BaseException | None:
        return scope.get(_EXCEPTION)

    def view_name_of(self, scope: Scope) -> str | None:
        return getattr(getattr(scope.get("route_handler"), "fn", None), "__name__", None)

    # -- startup --------------------------------------------------------------------------------

    def _startup_data(self) -> dict[str, Any]:
        """The `/startup` payload body (built in a thread, once the app has started)."""
        app = self.litestar
        data: dict[str, Any] = {}
        if app is not None:
            if app.openapi_config is not None:
                data["openapi"] = json.dumps(app.openapi_schema.to_schema())
            data["paths"] = [
                {"method": method, "path": route.path}
                for route in app.routes
                if route.scope_type == ScopeType.HTTP and not self._filtered(route.path)
                for method in route.methods
                if method not in ("OPTIONS", "HEAD")
            ]
        data["versions"] = package_versions("litestar", app_version=self.app_version)
        data["client"] = self.client_name
        return data


class _MeasuredLitestar:
    """The base of the app's extended class (see `_measured_class`)."""

    __slots__ = ()


def _measured_class(base: type[Litestar], core: _LitestarMiddleware, app: Litestar) -> type:
    """A subclass of the app's class (no new slots, so the app can take it as its class) whose
    `__call__` serves HTTP requests through `core`; the lifespan and websockets go straight through."""
    served = base.__call__.__get__(app)  # bound once: no bound method made per request

    async def __call__(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await core.serve(served, scope, receive, send)
        else:
            await served(scope, receive, send)

    return type(base.__name__, (base, _MeasuredLitestar), {"__slots__": (), "__call__": __call__})


def _template(handler: Any) -> str | None:
    """The route template of a handler: the first path of each of its layers, joined."""
    if not getattr(handler, "paths", None):
        return None
    parts: list[str] = []
    for layer in handler.ownership_layers:
        if isinstance(layer, HTTPRouteHandler):
            if not layer.paths:
                return None
            parts.append(next(iter(layer.paths)).lstrip("/"))
        else:
            parts.append(layer.path.lstrip("/"))
    return "/" + "/".join(part for part in parts if part)


def _openapi_path(app: Litestar) -> str | None:
    """Where the app serves its OpenAPI schema (its controller's or router's path, else the config's)."""
    config = app.openapi_config or DEFAULT_OPENAPI_CONFIG
    controller = getattr(config, "openapi_controller", None)
    if controller is not None:
        return str(controller.path)
    router = getattr(config, "openapi_router", None)
    if router is not None:
        return str(router.path)
    path = getattr(config, "path", None)
    return str(path) if path is not None else None
