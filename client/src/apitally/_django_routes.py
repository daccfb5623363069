"""What the Django integration learns from the app's URL configuration: which views are API views,
the route template of a matched request, and, for the startup payload, every API route and the
OpenAPI document (Django REST framework's or Django Ninja's).

Django REST framework and Django Ninja are optional: each is looked at only if it is installed.
Plain Django views count only with `include_django_views` (as in the official client).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from typing import Any

from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_str
from django.utils.functional import Promise

UrlConfs = list[str | None]

_PARAMETER = re.compile(r"<(?:[^>:]+:)?(\w+)>")  # `<int:item_id>` and `<pk>` (a named regex group)


def installed(package: str) -> bool:
    try:
        return find_spec(package) is not None
    except ValueError:
        return False


def route_template(route: str) -> str:
    """`api/items/<int:item_id>` (a `path()`) or `^items/(?P<pk>[^/.]+)/$` (a `re_path()`) as the
    template the hub shows: `/api/items/{item_id}`, `/items/{pk}/`."""
    from django.contrib.admindocs.views import simplify_regex

    return _PARAMETER.sub(r"{\1}", simplify_regex(route))


def _patterns(urlconf: str | None) -> Iterator[tuple[str, URLPattern]]:
    """Every URL pattern of the configuration, with the joined route leading to it."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern).removeprefix("^") if prefix else str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route, pattern

    return walk(get_resolver(urlconf).url_patterns, "")


# -- which views are API views -----------------------------------------------------------------------


def is_drf_view(func: Callable[..., Any]) -> bool:
    """A view made by a REST framework `APIView.as_view()` (viewsets and `@api_view` too)."""
    from rest_framework.views import APIView

    cls = getattr(func, "cls", None)
    return isinstance(cls, type) and issubclass(cls, APIView)


def is_ninja_view(func: Callable[..., Any], func_path: str) -> bool:
    """A Django Ninja operation view (a bound method of its PathView) or one of its own views."""
    from ninja.operation import PathView

    return isinstance(getattr(func, "__self__", None), PathView) or func_path.startswith("ninja.")


def api_callbacks(urlconfs: UrlConfs, include_django_views: bool) -> set[Callable[..., Any]]:
    """The views that count, when the configuration names its URL confs; empty: any API view counts.

    Given explicit URL confs, only their REST framework and Ninja views count (a request routed by
    another URL conf does not); with `include_django_views`, every view of them.
    """
    callbacks: set[Callable[..., Any]] = set()
    if None not in urlconfs:
        if installed("rest_framework"):
            callbacks.update(callback for _, _, callback in _drf_endpoints(urlconfs))
        if installed("ninja"):
            callbacks.update(
                path_view.get_view()
                for api in ninja_apis(urlconfs)
                for _, router in api._routers
                for path_view in router.path_operations.values()
            )
    if include_django_views:
        callbacks.update(pattern.callback for urlconf in urlconfs for _, pattern in _patterns(urlconf))
    return callbacks


# -- the startup payload -------------------------------------------------------------------------------


def startup_paths(urlconfs: UrlConfs, include_django_views: bool) -> list[dict[str, Any]]:
    """Every API route of the URL confs (each (method, path) once): REST framework's, Ninja's, and
    with `include_django_views` the methods of Django's class-based views."""
    paths: list[dict[str, Any]] = []
    if installed("rest_framework"):
        paths += [
            {"method": method.upper(), "path": path}
            for path, method, _ in _drf_endpoints(urlconfs)
            if method not in ("HEAD", "OPTIONS")
        ]
    if installed("ninja"):
        for api in ninja_apis(urlconfs):
            for path, operations in api.get_openapi_schema()["paths"].items():
                for method, operation in operations.items():
                    paths.append(
                        {
                            "method": method,
                            "path": path,
                            "summary": operation.get("summary"),
                            "description": operation.get("description"),
                        }
                    )
    if include_django_views:
        paths += _django_view_paths(urlconfs)
    seen: set[tuple[str, str]] = set()
    unique = []
    for path in paths:
        key = (path["method"], path["path"])
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def openapi_document(urlconfs: UrlConfs) -> str | None:
    """The app's OpenAPI document as JSON: REST framework's (drf-spectacular's if it is the schema
    class) or Ninja's, if exactly one of them has one with paths; else None."""
    drf = ninja = None
    if installed("rest_framework"):
        drf = _drf_schema(urlconfs)
    if installed("ninja"):
        schemas = [s for s in (api.get_openapi_schema() for api in ninja_apis(urlconfs)) if s["paths"]]
        ninja = schemas[0] if len(schemas) == 1 else None
    schema = drf if ninja is None else (ninja if drf is None else None)
    return None if schema is None else json.dumps(_plain(schema))


def _drf_endpoints(urlconfs: UrlConfs) -> list[tuple[str, str, Callable[..., Any]]]:
    from rest_framework.schemas.generators import EndpointEnumerator

    return [e for urlconf in urlconfs for e in EndpointEnumerator(urlconf=urlconf).get_api_endpoints()]


def _drf_schema(urlconfs: UrlConfs) -> dict[str, Any] | None:
    schema_class = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_SCHEMA_CLASS", "")
    schemas = []
    for urlconf in urlconfs:
        if schema_class == "drf_spectacular.openapi.AutoSchema":
            from drf_spectacular.generators import SchemaGenerator

            schema = SchemaGenerator(urlconf=urlconf).get_schema()
        else:
            from rest_framework.schemas.openapi import SchemaGenerator as DrfGenerator

            # AssertionError: uritemplate or inflection missing; AttributeError: a CoreAPI schema.
            schema = None
            with contextlib.suppress(AssertionError, AttributeError):
                schema = DrfGenerator(urlconf=urlconf).get_schema()
        if schema is not None and schema.get("paths"):
            schemas.append(schema)
    return schemas[0] if len(schemas) == 1 else None


def ninja_apis(urlconfs: UrlConfs) -> list[Any]:
    """The NinjaAPI instances mounted in the URL confs (found through their views), each once."""
    from ninja import NinjaAPI
    from ninja.operation import PathView

    apis: list[Any] = []
    for urlconf in urlconfs:
        for _, pattern in _patterns(urlconf):
            callback = pattern.callback
            api = (getattr(callback, "keywords", None) or {}).get("api")  # its docs views are partials
            path_view = getattr(callback, "__self__", None)
            if api is None and isinstance(path_view, PathView) and path_view.operations:
                api = getattr(path_view.operations[0], "api", None)
            if isinstance(api, NinjaAPI) and all(api is not known for known in apis):
                apis.append(api)
    return apis


def _django_view_paths(urlconfs: UrlConfs) -> list[dict[str, str]]:
    from django.views.generic.base import View

    paths = []
    for urlconf in urlconfs:
        for route, pattern in _patterns(urlconf):
            view_class = getattr(pattern.callback, "view_class", None)
            if isinstance(view_class, type) and issubclass(view_class, View):
                path = route_template(route)
                paths += [
                    {"method": method.upper(), "path": path}
                    for method in getattr(view_class, "http_method_names", ())
                    if method != "options" and hasattr(view_class, method)
                ]
    return paths


def _plain(value: Any) -> Any:
    """The schema with Django's lazy strings (translations) made plain, for json.dumps."""
    if isinstance(value, Promise):
        return force_str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
