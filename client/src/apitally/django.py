"""Django integration: `"apitally.django.ApitallyMiddleware"` first in `MIDDLEWARE`, configured by
the `APITALLY_MIDDLEWARE` setting (`{"client_id": ..., "env": "dev", ...}`).

The middleware wraps Django's own handler: once the view answered, the matched URL pattern is in
`request.resolver_match` (no second routing), its template worked out once per pattern. Requests to
Django REST framework and Django Ninja views count; plain Django views with `include_django_views`.
The consumer is `request.apitally_consumer` (a string or an `ApitallyConsumer`), else what the
`consumer_callback` (a dotted path) returns. `process_exception` keeps the view's unhandled
exception for the server error; Ninja's 422 bodies give the validation errors. Route discovery is
`apitally._django_routes`'; aggregation, request logging and delivery are the shared core's.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.utils.module_loading import import_string

from apitally import _django_routes as routes
from apitally._asgi import AsgiClient
from apitally._wsgi import _NOT_LOGGED, exchange_fields
from apitally.client.app_telemetry import TelemetryCapture, telemetry_weight
from apitally.client.config import ClientConfig
from apitally.client.consumers import ApitallyConsumer, consumer_identifier
from apitally.client.guard import client_fault
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.masking import BODY_TOO_LARGE, MAX_BODY_SIZE, is_allowed_content_type
from apitally.client.metrics import size_of
from apitally.client.request_log import Captured, Telemetry
from apitally.client.version import package_versions
from apitally.client.worker import PID_CHECK_INTERVAL

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse
    from django.urls import ResolverMatch

__all__ = ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig"]

logger = logging.getLogger("apitally")
ConsumerCallback = Callable[["HttpRequest"], "str | ApitallyConsumer | None"]
_LEGACY = "consumer_identifier"
_EXCEPTION = "_apitally_exception"  # the request attribute `process_exception` sets
_MAX_ROUTES = 10_000  # route templates cached per middleware (one per URL pattern in practice)
_UNKNOWN = object()


@dataclass(frozen=True)
class ApitallyMiddlewareConfig:
    """The `APITALLY_MIDDLEWARE` setting, validated (see `ApitallyMiddleware.configure`)."""

    client_id: str
    env: str
    app_version: str | None
    request_logging_config: RequestLoggingConfig
    consumer_callback: ConsumerCallback | None
    include_django_views: bool
    urlconfs: list[str | None]
    proxy: str | None
    hub_url: str | None


class ApitallyMiddleware:
    """Django middleware that measures every API request and syncs to the hub.

    A bad `client_id` or `env` is logged once and the middleware then passes requests through.
    """

    config: ClassVar[ApitallyMiddlewareConfig | None] = None
    # One client per configuration, as with the official client: Django builds a middleware per
    # handler (a test client, a WSGI and an ASGI handler in one process), all counted by one client.
    _client: ClassVar[tuple[ApitallyMiddlewareConfig, AsgiClient] | None] = None

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        if self.config is None:
            options = getattr(settings, "APITALLY_MIDDLEWARE", {})
            try:
                type(self).configure(**options)
            except (TypeError, ImportError) as error:  # no client_id, an unknown consumer_callback
                logger.error("Apitally disabled: bad APITALLY_MIDDLEWARE setting (%s)", error)
                type(self).configure(client_id="")  # invalid: the client is disabled, requests pass
        config = self.config
        assert config is not None
        self._config = config
        self._routes: dict[tuple[str, Any], Any] = {}  # str | None, the template of a counted view
        self._callbacks: set[Callable[..., Any]] = set()
        self._drf = routes.installed("rest_framework")
        self._ninja = routes.installed("ninja")
        shared = ApitallyMiddleware._client
        if shared is not None and shared[0] is config:
            self.client = shared[1]
        else:
            client_config = ClientConfig.build(config.client_id, config.env, config.hub_url, config.proxy)
            self.client = AsgiClient(
                client_config, config.request_logging_config, self._startup_data, _exchange_fields
            )
            ApitallyMiddleware._client = (config, self.client)
        logging_config = config.request_logging_config
        self._logging = self.client.request_logger.enabled
        self._log_request_body = self._logging and logging_config.log_request_body
        self._log_response_body = self._logging and logging_config.log_response_body
        # The app's logs and spans of each logged request (capture_logs, capture_traces), or None.
        self._telemetry = TelemetryCapture.of(self.client.config, self._logging, logging_config)
        self._count = self.client.requests.note  # one list append per request; the worker aggregates
        if self.client.enabled:
            try:
                self._callbacks = routes.api_callbacks(config.urlconfs, config.include_django_views)
            except Exception as fault:  # a URL conf that fails to import fails the app, not here
                client_fault(fault, "django url patterns")
            self.client.start()

    @classmethod
    def configure(
        cls,
        client_id: str,
        env: str = "dev",
        app_version: str | None = None,
        consumer_callback: str | None = None,
        include_django_views: bool = False,
        urlconf: list[str | None] | str | None = None,
        proxy: str | None = None,
        identify_consumer_callback: str | None = None,
        request_logging_config: RequestLoggingConfig | None = None,
        *,
        hub_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Set the configuration (what `APITALLY_MIDDLEWARE` holds), before the middleware is built."""
        if identify_consumer_callback is not None:
            warnings.warn(
                "identify_consumer_callback is deprecated, set consumer_callback instead",
                DeprecationWarning,
                stacklevel=2,
            )
        if request_logging_config is not None:
            warnings.warn(
                "request_logging_config is deprecated, set the request-logging options at the top level",
                DeprecationWarning,
                stacklevel=2,
            )
        callback = consumer_callback or identify_consumer_callback
        cls.config = ApitallyMiddlewareConfig(
            client_id=client_id,
            env=env,
            app_version=app_version,
            request_logging_config=request_logging_config or RequestLoggingConfig.from_kwargs(kwargs),
            consumer_callback=import_string(callback) if callback else None,
            include_django_views=include_django_views,
            urlconfs=[urlconf] if urlconf is None or isinstance(urlconf, str) else list(urlconf),
            proxy=proxy,
            hub_url=hub_url,
        )

    # -- the request ------------------------------------------------------------------------------

    def __call__(self, request: HttpRequest) -> HttpResponse:
        client = self.client
        if not client.enabled or request.method == "OPTIONS":
            return self.get_response(request)
        start = perf_counter()
        request_body = None
        try:
            if start - client.pid_checked > PID_CHECK_INTERVAL:
                client.check_process(start)
            if self._log_request_body:
                request_body = _request_body(request)
        except Exception as fault:
            client_fault(fault, "django request")
        if self._telemetry is None:
            response = self.get_response(request)
            telemetry = None
        else:
            response, telemetry = self._run_capturing(request, self._telemetry)
        try:
            self._record(request, response, start, perf_counter() - start, request_body, telemetry)
        except Exception as fault:
            client_fault(fault, "django record")
        return response

    def _run_capturing(
        self, request: HttpRequest, capture: TelemetryCapture
    ) -> tuple[HttpResponse, Telemetry | None]:
        """The response, with the logs and spans the app wrote while it made it."""
        begun = None
        try:
            begun = capture.start()
        except Exception as fault:
            client_fault(fault, "django capture start")
        telemetry = None
        try:
            response = self.get_response(request)
        finally:
            if begun is not None:
                try:
                    match = request.resolver_match  # the root span is named as the official names it
                    telemetry = capture.stop(begun, match.view_name if match is not None else None)
                except Exception as fault:
                    client_fault(fault, "django capture stop")
        return response, telemetry

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Keep the view's unhandled exception for the request's server error (Django answers it)."""
        request.__dict__[_EXCEPTION] = exception

    def _record(
        self,
        request: HttpRequest,
        response: HttpResponse,
        start: float,
        seconds: float,
        request_body: bytes | None,
        telemetry: Telemetry | None,
    ) -> None:
        match = request.resolver_match
        if match is None:
            return
        route = self._routes.get((match.route, match.func), _UNKNOWN)
        if route is _UNKNOWN:
            route = self._route_of(match)
        if route is None:
            return  # not an API view: neither counted nor logged (as the official client does)
        consumer = self._consumer(request)
        method: str = request.method
        meta = request.META
        status = response.status_code
        headers = response.headers
        streaming = response.streaming
        length: int | str | None = headers.get("Content-Length")
        if length is None and not streaming:
            length = _content_length(response)
        self._count(
            (consumer, method, route, status, int(seconds / 0.01), meta.get("CONTENT_LENGTH"), length)
        )
        exc = request.__dict__.get(_EXCEPTION)
        if status == 500 and exc is not None:
            self.client.server_errors.add(consumer_identifier(consumer), method, route, exc)
        elif status == 422 and not streaming:
            content_type = headers.get("Content-Type")
            if content_type is not None and content_type.startswith("application/json"):
                self.client.validation_errors.note(
                    consumer_identifier(consumer),
                    method,
                    route,
                    response.content,
                    headers.get("Content-Encoding"),
                )
        if self._logging:
            self._log(
                request, response, route, consumer, start, seconds, length, request_body, exc, telemetry
            )

    def _route_of(self, match: ResolverMatch) -> str | None:
        """The template of the matched pattern if its view counts (worked out once per pattern)."""
        func = match.func
        counted = not self._callbacks or func in self._callbacks
        if counted and not self._config.include_django_views:
            counted = (self._drf and routes.is_drf_view(func)) or (
                self._ninja and routes.is_ninja_view(func, getattr(match, "_func_path", "") or "")
            )
        route = routes.route_template(match.route) if counted else None
        if len(self._routes) < _MAX_ROUTES:
            self._routes[(match.route, func)] = route
        return route

    def _consumer(self, request: HttpRequest) -> object:
        values = request.__dict__
        consumer = values.get("apitally_consumer")
        if consumer:
            return consumer
        consumer = values.get(_LEGACY)
        if consumer:
            warnings.warn(
                "request.consumer_identifier is deprecated, set request.apitally_consumer instead",
                DeprecationWarning,
                stacklevel=2,
            )
            return consumer
        callback = self._config.consumer_callback
        if callback is not None:
            try:
                return callback(request)
            except Exception as fault:  # the request is still counted, without a consumer
                client_fault(fault, "django consumer_callback")
        return None

    def _log(
        self,
        request: HttpRequest,
        response: HttpResponse,
        route: str,
        consumer: object,
        start: float,
        seconds: float,
        length: int | str | None,
        request_body: bytes | None,
        exc: BaseException | None,
        telemetry: Telemetry | None,
    ) -> None:
        environ = request.META.copy()  # under WSGI the environ; the worker picks the headers out
        for key in _NOT_LOGGED:
            if key in environ:
                del environ[key]
        if "wsgi.url_scheme" not in environ:  # an ASGI request
            environ["wsgi.url_scheme"] = request.scheme
        if consumer is not None and type(consumer) is not str:
            consumer = consumer_identifier(consumer)
        response_body = None
        if (
            self._log_response_body
            and not response.streaming
            and is_allowed_content_type(response.headers.get("Content-Type"))
        ):
            size = size_of(length)
            response_body = response.content if size is not None and size <= MAX_BODY_SIZE else BODY_TOO_LARGE
        client = self.client
        exception = None
        if exc is not None and client.request_logger.config.log_exception:
            exception = client.server_errors.describe(exc)
        item: Captured = (
            start,
            (tuple(environ), tuple(environ.values()), tuple(response.items())),
            route,
            consumer,
            request_body,
            response.status_code,
            seconds,
            length,
            response_body,
            exception,
            telemetry,
        )
        weight = 1024 + 64 * len(environ) + len(request_body or b"") + len(response_body or b"")
        if telemetry is not None:
            weight += telemetry_weight(telemetry)
        client.request_logger.add(item, weight)

    # -- startup ----------------------------------------------------------------------------------

    def _startup_data(self) -> dict[str, Any]:
        """The `/startup` payload body (built by the worker: the URL confs are imported by then)."""
        config = self._config
        data: dict[str, Any] = {}
        try:
            data["paths"] = routes.startup_paths(config.urlconfs, config.include_django_views)
        except Exception as fault:
            data["paths"] = []
            client_fault(fault, "django startup paths")
        try:
            data["openapi"] = routes.openapi_document(config.urlconfs)  # null when there is none
        except Exception as fault:
            client_fault(fault, "django openapi")
        data["versions"] = package_versions(
            "django", "djangorestframework", "django-ninja", app_version=config.app_version
        )
        data["client"] = "python:django"
        return data


def _request_body(request: HttpRequest) -> bytes | None:
    """The request body for the log: None if its type is not logged, the placeholder if too large."""
    meta = request.META
    if not is_allowed_content_type(meta.get("CONTENT_TYPE")):
        return None
    size = size_of(meta.get("CONTENT_LENGTH"))
    if size is None:
        return None
    if size > MAX_BODY_SIZE:
        return BODY_TOO_LARGE  # not read: Django would refuse a body past DATA_UPLOAD_MAX_MEMORY_SIZE
    return request.body  # kept by Django: the view reads it again


def _exchange_fields(raw: tuple[tuple[str, ...], tuple[Any, ...], tuple[tuple[str, str], ...]]) -> Any:
    """The log fields of a capture (the WSGI ones, run by the worker), with the host as Django names
    it when the request has no Host header: the server name, and its port unless the default one."""
    fields = exchange_fields(raw)
    keys, values, _ = raw
    if "HTTP_HOST" in keys:
        return fields
    environ = dict(zip(keys, values, strict=True))
    name, port = environ.get("SERVER_NAME"), environ.get("SERVER_PORT")
    default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    if port != default:
        return fields
    return (fields[0], fields[1].replace(f"://{name}:{port}", f"://{name}", 1), *fields[2:])


def _content_length(response: HttpResponse) -> int:
    # The chunks of an HttpResponse, measured without `content`, which would join them into a copy.
    container = getattr(response, "_container", None)
    if type(container) is list:
        return sum(len(chunk) for chunk in container)
    return len(response.content)
