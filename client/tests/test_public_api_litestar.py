"""The public API of apitally.litestar is pinned here, and checked against the official 0.25.1's own,
read from its virtual environment: an app moves between the two clients by changing nothing but
the installed package."""

from __future__ import annotations

import inspect
import json
import subprocess

import apitally.litestar
from apitally.client.consumers import ApitallyConsumer
from apitally.client.logging_config import RequestLoggingConfig
from apitally.litestar import ApitallyPlugin, set_consumer
from litestar.plugins import InitPluginProtocol

from .conftest import official_env, official_python
from .test_public_api import _modules_after

# What the official client's module exports and takes, printed by its own interpreter.
_OFFICIAL = """
import inspect, json, apitally.litestar as m
from litestar.plugins import InitPluginProtocol
def defaults(f):
    return {n: repr(p.default) for n, p in inspect.signature(f).parameters.items()}
print(json.dumps({
    "all": sorted(m.__all__),
    "init": defaults(m.ApitallyPlugin),
    "on_app_init": list(inspect.signature(m.ApitallyPlugin.on_app_init).parameters),
    "init_plugin": issubclass(m.ApitallyPlugin, InitPluginProtocol),
    "set_consumer": defaults(m.set_consumer),
    "consumer": defaults(m.ApitallyConsumer),
}))
"""


def _defaults(func: object) -> dict[str, str]:
    return {n: repr(p.default) for n, p in inspect.signature(func).parameters.items()}  # type: ignore[arg-type]


def test_module_exports() -> None:
    assert sorted(apitally.litestar.__all__) == [
        "ApitallyConsumer",
        "ApitallyPlugin",
        "RequestLoggingConfig",
        "set_consumer",
    ]
    assert apitally.litestar.ApitallyConsumer is ApitallyConsumer
    assert apitally.litestar.RequestLoggingConfig is RequestLoggingConfig
    assert issubclass(ApitallyPlugin, InitPluginProtocol)


def test_plugin_signature() -> None:
    params = inspect.signature(ApitallyPlugin).parameters
    assert list(params) == [
        "client_id",
        "env",
        "app_version",
        "filter_openapi_paths",
        "consumer_callback",
        "proxy",
        "identify_consumer_callback",
        "request_logging_config",
        "hub_url",
        "kwargs",
    ]
    assert params["env"].default == "dev" and params["filter_openapi_paths"].default is True
    assert params["hub_url"].kind is inspect.Parameter.KEYWORD_ONLY and params["hub_url"].default is None
    assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD
    assert list(inspect.signature(set_consumer).parameters) == ["request", "identifier", "name", "group"]


def test_the_same_names_and_signatures_as_the_official_client() -> None:
    done = subprocess.run(
        [official_python(), "-c", _OFFICIAL], env=official_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout)
    assert sorted(apitally.litestar.__all__) == theirs["all"]
    ours = _defaults(ApitallyPlugin)
    del ours["hub_url"]  # ours only: the hub's address
    assert ours == theirs["init"]
    assert list(inspect.signature(ApitallyPlugin.on_app_init).parameters) == theirs["on_app_init"]
    assert theirs["init_plugin"] is True
    assert _defaults(set_consumer) == theirs["set_consumer"]
    assert _defaults(ApitallyConsumer) == theirs["consumer"]


def test_the_litestar_integration_imports_nothing_of_the_hub() -> None:
    modules = _modules_after("import apitally.litestar")
    assert not {m for m in modules if m.split(".")[0] == "tallyhub"}
    assert "apitally.litestar" in modules
