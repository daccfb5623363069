"""Starlette integration: `app.add_middleware(ApitallyMiddleware, client_id=..., env="dev")`.

Starlette's router leaves the matched route in the scope (`scope["route"]`, and FastAPI its
effective route context), so the route template is read there once the app returned, with no
second routing; older versions are matched against the router's routes. The consumer is
`request.state.apitally_consumer` (the scope's `state`), else the `consumer_callback`. At startup
every route is listed from the router, with the app's OpenAPI document. The ASGI mechanics are
`apitally._asgi`'s.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.schemas import SchemaGenerator

from apitally._asgi import ASGIApp, AsgiMiddleware, Message, Scope, _Exchange, warn_deprecated_options
from apitally.client.config import ClientConfig
from apitally.client.consumers import ApitallyConsumer
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.version import package_versions

__all__ = ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig", "set_consumer"]

ConsumerCallback = Callable[[Request], "str | ApitallyConsumer | None"]
CLIENT_DISCONNECTED = 499  # the status NGINX records for a client that closed the connection


class ApitallyMiddleware(AsgiMiddleware):
    """ASGI middleware that measures every request of a Starlette app and syncs to the hub.

    A bad `client_id` or `env` is logged once and the middleware then passes requests through.
    """

    client_name = "python:starlette"

    def __init__(
        self,
        app: ASGIApp,
        client_id: str,
        env: str = "dev",
        app_version: str | None = None,
        openapi_url: str | None = "/openapi.json",
        consumer_callback: ConsumerCallback | None = None,
        capture_client_disconnects: bool = False,
        proxy: str | None = None,
        identify_consumer_callback: ConsumerCallback | None = None,
        request_logging_config: RequestLoggingConfig | None = None,
        *,
        hub_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        warn_deprecated_options(identify_consumer_callback, request_logging_config)
        self.app_version = app_version
        self.openapi_url = openapi_url
        self.consumer_callback = consumer_callback or identify_consumer_callback
        self.capture_client_disconnects = capture_client_disconnects
        logging_config = request_logging_config or RequestLoggingConfig.from_kwargs(kwargs)
        config = ClientConfig.build(client_id, env, hub_url, proxy)
        super().__init__(app, config, logging_config, self._startup_data)

    # -- the request ----------------------------------------------------------------------------

    def route_of(self, scope: Scope) -> str | None:
        context = scope.get("fastapi")
        if context:  # FastAPI ≥ 0.138: the resolved route, with the prefixes of included routers
            path = getattr(context.get("effective_route_context"), "path", None)
            if path:
                return scope.get("root_path", "") + path
        route = scope.get("route")
        if route is None:  # a Starlette that leaves no route in the scope
            return _match(scope, _routes(self.app))
        if hasattr(route, "routes"):  # a mount that matched no route of its own
            return None
        methods = getattr(route, "methods", None)
        if methods and scope["method"] not in methods:
            return None  # a partial match: the path, not the method (405)
        path = getattr(route, "path", None)
        return scope.get("root_path", "") + path if path is not None else None

    def request_of(self, scope: Scope) -> Request:
        return Request(scope)

    def watches_disconnects(self) -> bool:
        return self.capture_client_disconnects

    def disconnected_status(self, exchange: _Exchange) -> int | None:
        return CLIENT_DISCONNECTED if self.capture_client_disconnects else None

    def view_name_of(self, scope: Scope) -> str | None:
        return getattr(scope.get("endpoint"), "__name__", None)

    # -- startup --------------------------------------------------------------------------------

    def _startup_data(self) -> dict[str, Any]:
        """The `/startup` payload body (built in a thread, once the app's routes are registered)."""
        data: dict[str, Any] = {}
        if self.openapi_url and (openapi := _openapi(self.app, self.openapi_url)) is not None:
            data["openapi"] = openapi
        routes = _routes(self.app)
        data["paths"] = [
            {"path": endpoint.path, "method": endpoint.http_method}
            for endpoint in SchemaGenerator({}).get_endpoints(routes)
        ]
        data["versions"] = package_versions("fastapi", "starlette", app_version=self.app_version)
        data["client"] = self.client_name
        return data


def set_consumer(
    request: Request, identifier: str, name: str | None = None, group: str | None = None
) -> None:
    """Set the consumer of `request` (same as `request.state.apitally_consumer = ApitallyConsumer(...)`)."""
    request.state.apitally_consumer = ApitallyConsumer(identifier, name=name, group=group)


def _router(app: Any) -> Router | None:
    """The router under the app's middleware (each layer keeps the next one as `.app`)."""
    seen = 0
    while not isinstance(app, Router) and seen < 64:
        if isinstance(getattr(app, "router", None), Router):
            return app.router
        app = getattr(app, "app", None)
        if app is None:
            return None
        seen += 1
    return app if isinstance(app, Router) else None


def _routes(app: Any) -> list[BaseRoute]:
    """The router's routes, with FastAPI's included routers (≥ 0.138 keeps them apart) expanded."""
    router = _router(app)
    if router is None:
        return []
    routes: list[BaseRoute] = []
    for route in router.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if not callable(contexts):
            routes.append(route)
            continue
        for context in contexts():
            if context.starlette_route is not None:
                routes.append(context.starlette_route)
            elif context.path and context.endpoint is not None:
                routes.append(
                    Route(
                        context.path,
                        endpoint=context.endpoint,
                        methods=list(context.methods or []),
                        include_in_schema=context.include_in_schema,
                    )
                )
    return routes


def _match(scope: Scope, routes: list[BaseRoute]) -> str | None:
    """The template of the route that fully matches the request, searched through mounts."""
    for route in routes:
        sub = getattr(route, "routes", None)
        if sub is not None:
            path = _match(scope, sub)
            if path is not None:
                return path
        elif hasattr(route, "path"):
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return scope.get("root_path", "") + route.path
    return None


def _openapi(app: ASGIApp, url: str) -> str | None:
    """The app's OpenAPI document at `url` (a GET through the app, not the middleware), or None."""
    body: list[bytes] = []
    status: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"localhost"), (b"accept", b"application/json")],
        "client": ("127.0.0.1", 0),
        "server": ("localhost", 80),
    }

    async def fetch() -> None:
        await app(scope, receive, send)

    try:
        asyncio.run(fetch())  # in a thread of the client's own, on a loop of its own
    except Exception:
        return None
    if not status or status[0] != 200:
        return None
    text = b"".join(body).decode("utf-8", "replace")
    try:
        json.loads(text)
    except ValueError:
        return None
    return text
