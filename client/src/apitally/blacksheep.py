"""BlackSheep integration: `use_apitally(app, client_id=..., env="dev")`, as the official guide shows.

`use_apitally` measures the app at its ASGI interface with the shared core (`apitally._asgi`): it
extends the app's class (BlackSheep's own `Application.extend`) with a `__call__` that serves each
HTTP request through the core. The route template is the pattern of the route BlackSheep's router
matched (`app.router.get_match`, wrapped to keep the match in the request's scope); the fallback
route (`*`, a request that matched no route) is not counted. BlackSheep turns every exception into a
response itself, so the extended class's `handle_request_handler_exception` (where BlackSheep sends
every exception of a route's handler and middlewares) keeps the exception in the scope for the
server error and the log: no middleware of ours runs on each request. The consumer is the
`apitally_consumer` claim of the request's identity (set by the app's authentication handler, or by
a handler on `request.user`), else the `consumer_callback`'s.
The startup data (every route: BlackSheep's OpenAPI generator's, with summaries and descriptions, then
those of sub-routers, which the generator does not see) and a first sync are sent from the app's
`after_start` event, once its routers and controllers are in place; its `on_stop` event sends what
is left.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from blacksheep import Application, Request
from blacksheep.server.openapi.v3 import Info, OpenAPIHandler

from apitally._asgi import AsgiMiddleware, Receive, Scope, Send, warn_deprecated_options
from apitally.client.config import ClientConfig
from apitally.client.consumers import ApitallyConsumer
from apitally.client.guard import client_fault
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.version import package_versions

__all__ = ["ApitallyConsumer", "RequestLoggingConfig", "use_apitally"]

ConsumerCallback = Callable[[Request], "str | ApitallyConsumer | None"]
_CORE = "_apitally_core"  # the app's attribute: (its measuring core's `serve`, its class's own `__call__`)
_MATCH = "apitally.route_match"  # scope keys: the router's match, the request, the exception
_REQUEST = "apitally.request"
_EXCEPTION = "apitally.exception"
_CLAIM = "apitally_consumer"
_FALLBACK = b"*"  # the pattern of BlackSheep's fallback route (no route matched)
_METHODS = ("get", "put", "post", "delete", "patch")  # the operations listed at startup
# A route parameter in any of BlackSheep's spellings (`:id`, `{id}`, `{int:id}`, `<id>`, `<int:id>`).
_PARAMETER = re.compile(r"(?::(\w+)|[{<](?:\w+:)?(\w+)[}>])")


def use_apitally(
    app: Application,
    client_id: str,
    env: str = "dev",
    app_version: str | None = None,
    consumer_callback: ConsumerCallback | None = None,
    identify_consumer_callback: ConsumerCallback | None = None,
    request_logging_config: RequestLoggingConfig | None = None,
    *,
    hub_url: str | None = None,
    **kwargs: Any,
) -> None:
    """Measure every request of a BlackSheep app and sync to the hub.

    A bad `client_id` or `env` is logged once and the app's requests then pass unmeasured.
    """
    warn_deprecated_options(identify_consumer_callback, request_logging_config)
    logging_config = request_logging_config or RequestLoggingConfig.from_kwargs(kwargs)
    config = ClientConfig.build(client_id, env, hub_url, None)
    core = _BlackSheepMiddleware(
        app,
        config,
        logging_config,
        app_version=app_version,
        consumer_callback=consumer_callback or identify_consumer_callback,
    )
    app.extend(_MeasuredApplication)
    # Resolved once: the class after ours in the app's MRO stays the same (BlackSheep's `extend`
    # puts later mixins before ours), so each request makes no super object nor bound methods.
    served: Any = super(_MeasuredApplication, app)
    setattr(app, _CORE, (core.serve, served.__call__))
    _keep_route_matches(app.router)
    app.after_start += core.after_start
    app.on_stop += core.on_stop


class _MeasuredApplication:
    """Mixed into the app's class: each HTTP request is served through the app's core."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        measured = self.__dict__.get(_CORE)  # (the core's `serve`, the app class's own `__call__`)
        if measured is None:
            application: Any = super()
            await application.__call__(scope, receive, send)
        elif scope["type"] == "http":
            await measured[0](measured[1], scope, receive, send)
        else:
            await measured[1](scope, receive, send)

    async def handle_request_handler_exception(self, request: Request, exc: Exception) -> Any:
        # The exception BlackSheep will answer itself, kept for the core (instead of a middleware,
        # which would cost each request a layer of BlackSheep's middleware chain).
        try:
            scope: Any = request.scope
            scope[_EXCEPTION] = exc
        except Exception as fault:
            client_fault(fault, "blacksheep exception")
        application: Any = super()
        return await application.handle_request_handler_exception(request, exc)


def _keep_route_matches(router: Any) -> None:
    """Wrap the router's `get_match` (BlackSheep routes each request with it once) so that the match
    and the request are kept in the request's scope, read once the app returned."""

    def get_match(request: Request) -> Any:
        # The class's method, looked up per call: BlackSheep may extend the router's class later.
        match = type(router).get_match(router, request)
        try:
            scope: Any = request.scope  # the server's scope (typed by BlackSheep as its TypedDict)
            scope[_REQUEST] = request
            if match is not None:
                scope[_MATCH] = match
        except Exception as fault:
            client_fault(fault, "blacksheep route match")
        return match

    router.get_match = get_match


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The core's own app: none (the measured app's `__call__` hands its own to `serve`)."""


class _BlackSheepMiddleware(AsgiMiddleware):
    """The shared ASGI core, serving the BlackSheep app it was made for."""

    client_name = "python:blacksheep"
    validation_status = -1  # none: BlackSheep's validation errors are not reported (as the official client)
    scope_keys = (_MATCH, _REQUEST, _EXCEPTION)

    def __init__(
        self,
        app: Application,
        config: ClientConfig,
        logging_config: RequestLoggingConfig,
        *,
        app_version: str | None,
        consumer_callback: ConsumerCallback | None,
    ) -> None:
        self.blacksheep = app
        self.app_version = app_version
        self.consumer_callback = consumer_callback
        self._templates: dict[bytes, str | None] = {}
        super().__init__(_no_app, config, logging_config, self._startup_data)

    # -- BlackSheep's events --------------------------------------------------------------------

    async def after_start(self, application: Application) -> None:
        await self._startup()

    async def on_stop(self, application: Application) -> None:
        await self._shutdown()

    # -- the request ----------------------------------------------------------------------------

    def route_of(self, scope: Scope) -> str | None:
        match = scope.get(_MATCH)
        if match is None:
            return None
        pattern = match.pattern
        templates = self._templates
        if pattern not in templates:
            templates[pattern] = None if pattern == _FALLBACK else pattern.decode()
        return templates[pattern]

    def consumer_of(self, scope: Scope) -> object:
        # The core's lookup (the app's consumer, else the callback's) with the request read once.
        request = scope.get(_REQUEST)
        if request is None:
            return None
        consumer = _claimed_consumer(request)
        if consumer:
            return consumer
        callback = self.consumer_callback
        return None if callback is None else callback(request)

    def app_consumer(self, scope: Scope) -> object:
        request = scope.get(_REQUEST)
        return None if request is None else _claimed_consumer(request)

    def request_of(self, scope: Scope) -> Request | None:
        return scope.get(_REQUEST)

    def handled_exception_of(self, scope: Scope) -> BaseException | None:
        return scope.get(_EXCEPTION)

    def view_name_of(self, scope: Scope) -> str | None:
        match = scope.get(_MATCH)
        if match is None:
            return None
        handler = getattr(match.handler, "root_fn", match.handler)  # under the app's middlewares
        return getattr(handler, "__name__", None)

    # -- startup --------------------------------------------------------------------------------

    def _startup_data(self) -> dict[str, Any]:
        """The `/startup` payload body (built in a thread, once the app has started)."""
        return {
            "paths": _paths(self.blacksheep),
            "versions": package_versions("blacksheep", app_version=self.app_version),
            "client": self.client_name,
        }


def _claimed_consumer(request: Request) -> object:
    """The `apitally_consumer` claim of the request's identity, or None."""
    identity = getattr(request, "user", None) or getattr(request, "identity", None)
    if identity is not None and identity.has_claim(_CLAIM):
        return identity.get(_CLAIM)
    return None


def _paths(app: Application) -> list[dict[str, str]]:
    """Every operation BlackSheep's OpenAPI generator finds in the app, with its summary and description."""
    paths = []
    for path, item in OpenAPIHandler(info=Info(title="", version="")).get_paths(app).items():
        for method in _METHODS:
            operation = getattr(item, method, None)
            if operation is None:
                continue
            entry = {"method": method.upper(), "path": path}
            if operation.summary:
                entry["summary"] = operation.summary
            if operation.description:
                entry["description"] = operation.description
            paths.append(entry)
    # The routes the generator does not see (those of sub-routers), as requests are counted under them.
    listed = {(p["method"], _normalized(p["path"])) for p in paths}
    for method, route in app.router.iter_with_methods():
        method = method.upper()
        if method.lower() not in _METHODS:
            continue
        template = route.pattern.decode()
        if (method, _normalized(template)) not in listed:
            listed.add((method, _normalized(template)))
            paths.append({"method": method, "path": template})
    return paths


def _normalized(path: str) -> str:
    """The path with each parameter spelled `{name}`, to compare the generator's paths with patterns."""
    return _PARAMETER.sub(lambda m: "{" + (m.group(1) or m.group(2)) + "}", path)
