"""The public API of apitally.django (and its Ninja and REST framework aliases) is pinned here, and
checked against the official 0.25.1's own, read from its virtual environment: an app moves between
the two clients by changing nothing but the installed package."""

from __future__ import annotations

import inspect
import json
import subprocess

import apitally.django
import apitally.django_ninja
import apitally.django_rest_framework
import pytest
from apitally.client.consumers import ApitallyConsumer
from apitally.client.logging_config import RequestLoggingConfig

from .conftest import official_env, official_python
from .test_public_api import _modules_after

MODULES = [apitally.django, apitally.django_ninja, apitally.django_rest_framework]
CONFIGURE = [
    "client_id",
    "env",
    "app_version",
    "consumer_callback",
    "include_django_views",
    "urlconf",
    "proxy",
    "identify_consumer_callback",
    "request_logging_config",
    "kwargs",
]

# What the official client's modules export and take, printed by its own interpreter.
_OFFICIAL = """
import inspect, json, apitally.django, apitally.django_ninja, apitally.django_rest_framework
out = {}
for module in (apitally.django, apitally.django_ninja, apitally.django_rest_framework):
    mw = module.ApitallyMiddleware
    out[module.__name__] = {
        "all": sorted(module.__all__),
        "init": list(inspect.signature(mw.__init__).parameters),
        "configure": {n: repr(p.default) for n, p in inspect.signature(mw.configure).parameters.items()},
        "process_exception": list(inspect.signature(mw.process_exception).parameters),
        "consumer": list(inspect.signature(module.ApitallyConsumer).parameters),
    }
print(json.dumps(out))
"""


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_module_exports(module: object) -> None:
    assert sorted(module.__all__) == ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig"]  # type: ignore[attr-defined]
    assert module.ApitallyMiddleware is apitally.django.ApitallyMiddleware  # type: ignore[attr-defined]
    assert module.ApitallyConsumer is ApitallyConsumer  # type: ignore[attr-defined]
    assert module.RequestLoggingConfig is RequestLoggingConfig  # type: ignore[attr-defined]


def test_configure_signature() -> None:
    params = inspect.signature(apitally.django.ApitallyMiddleware.configure).parameters
    assert [n for n in params if n != "hub_url"] == CONFIGURE
    defaults = {name: p.default for name, p in params.items()}
    assert defaults["env"] == "dev" and defaults["include_django_views"] is False
    for name in ("app_version", "consumer_callback", "urlconf", "proxy", "identify_consumer_callback"):
        assert defaults[name] is None
    assert params["hub_url"].kind is inspect.Parameter.KEYWORD_ONLY and params["hub_url"].default is None
    assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


def test_the_same_names_and_signatures_as_the_official_client() -> None:
    done = subprocess.run(
        [official_python(), "-c", _OFFICIAL], env=official_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    official = json.loads(done.stdout)
    for module in MODULES:
        theirs = official[module.__name__]
        mw = module.ApitallyMiddleware  # type: ignore[attr-defined]
        assert sorted(module.__all__) == theirs["all"]  # type: ignore[attr-defined]
        assert list(inspect.signature(mw.__init__).parameters) == theirs["init"]
        ours = {n: repr(p.default) for n, p in inspect.signature(mw.configure).parameters.items()}
        del ours["hub_url"]  # ours only: the hub's address
        assert ours == theirs["configure"]
        assert list(inspect.signature(mw.process_exception).parameters) == theirs["process_exception"]
        assert list(inspect.signature(module.ApitallyConsumer).parameters) == theirs["consumer"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "module", ["apitally.django", "apitally.django_ninja", "apitally.django_rest_framework"]
)
def test_django_integrations_import_nothing_of_the_hub(module: str) -> None:
    modules = _modules_after(f"import {module}")
    assert not {m for m in modules if m.split(".")[0] == "tallyhub"}
    assert module in modules
