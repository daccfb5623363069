"""The public API of apitally.starlette and apitally.fastapi is pinned here: the official 0.25.1's,
so that an app moves between the two clients by changing nothing but the installed package."""

from __future__ import annotations

import inspect

import apitally.fastapi
import apitally.starlette
import pytest
from apitally.client.consumers import ApitallyConsumer
from apitally.client.logging_config import RequestLoggingConfig

from .test_public_api import _modules_after

MODULES = [apitally.starlette, apitally.fastapi]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_module_exports(module: object) -> None:
    assert sorted(module.__all__) == [  # type: ignore[attr-defined]
        "ApitallyConsumer",
        "ApitallyMiddleware",
        "RequestLoggingConfig",
        "set_consumer",
    ]
    assert module.ApitallyConsumer is ApitallyConsumer  # type: ignore[attr-defined]
    assert module.RequestLoggingConfig is RequestLoggingConfig  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_middleware_signature(module: object) -> None:
    params = inspect.signature(module.ApitallyMiddleware).parameters  # type: ignore[attr-defined]
    assert list(params)[:10] == [
        "app",
        "client_id",
        "env",
        "app_version",
        "openapi_url",
        "consumer_callback",
        "capture_client_disconnects",
        "proxy",
        "identify_consumer_callback",
        "request_logging_config",
    ]
    defaults = {name: p.default for name, p in params.items()}
    assert defaults["env"] == "dev" and defaults["openapi_url"] == "/openapi.json"
    assert defaults["capture_client_disconnects"] is False
    for name in ("app_version", "consumer_callback", "proxy", "identify_consumer_callback"):
        assert defaults[name] is None
    assert params["hub_url"].kind is inspect.Parameter.KEYWORD_ONLY and params["hub_url"].default is None
    assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_set_consumer_takes_the_request(module: object) -> None:
    params = inspect.signature(module.set_consumer).parameters  # type: ignore[attr-defined]
    assert list(params) == ["request", "identifier", "name", "group"]
    assert params["name"].default is None and params["group"].default is None


def test_fastapi_middleware_is_the_starlette_one() -> None:
    assert issubclass(apitally.fastapi.ApitallyMiddleware, apitally.starlette.ApitallyMiddleware)


@pytest.mark.parametrize("module", ["apitally.fastapi", "apitally.starlette"])
def test_asgi_integrations_import_nothing_of_the_hub(module: str) -> None:
    modules = _modules_after(f"import {module}")
    assert not {m for m in modules if m.split(".")[0] == "tallyhub"}
    assert module in modules
