"""The public API of apitally.blacksheep is pinned here, and checked against the official 0.25.1's own,
read from its virtual environment: an app moves between the two clients by changing nothing but
the installed package."""

from __future__ import annotations

import inspect
import json
import subprocess

import apitally.blacksheep
from apitally.blacksheep import use_apitally
from apitally.client.consumers import ApitallyConsumer
from apitally.client.logging_config import RequestLoggingConfig

from .conftest import official_env, official_python
from .test_public_api import _modules_after

# What the official client's module exports and takes, printed by its own interpreter.
_OFFICIAL = """
import inspect, json, apitally.blacksheep as m
def defaults(f):
    return {n: repr(p.default) for n, p in inspect.signature(f).parameters.items()}
def kinds(f):
    return {n: p.kind.name for n, p in inspect.signature(f).parameters.items()}
print(json.dumps({
    "all": sorted(m.__all__),
    "use_apitally": defaults(m.use_apitally),
    "kinds": kinds(m.use_apitally),
    "consumer": defaults(m.ApitallyConsumer),
}))
"""


def _defaults(func: object) -> dict[str, str]:
    return {n: repr(p.default) for n, p in inspect.signature(func).parameters.items()}  # type: ignore[arg-type]


def test_module_exports() -> None:
    assert sorted(apitally.blacksheep.__all__) == ["ApitallyConsumer", "RequestLoggingConfig", "use_apitally"]
    assert apitally.blacksheep.ApitallyConsumer is ApitallyConsumer
    assert apitally.blacksheep.RequestLoggingConfig is RequestLoggingConfig


def test_use_apitally_signature() -> None:
    params = inspect.signature(use_apitally).parameters
    assert list(params) == [
        "app",
        "client_id",
        "env",
        "app_version",
        "consumer_callback",
        "identify_consumer_callback",
        "request_logging_config",
        "hub_url",
        "kwargs",
    ]
    assert params["env"].default == "dev" and params["app_version"].default is None
    assert params["hub_url"].kind is inspect.Parameter.KEYWORD_ONLY and params["hub_url"].default is None
    assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


def test_the_same_names_and_signatures_as_the_official_client() -> None:
    done = subprocess.run(
        [official_python(), "-c", _OFFICIAL], env=official_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout)
    assert sorted(apitally.blacksheep.__all__) == theirs["all"]
    ours = _defaults(use_apitally)
    del ours["hub_url"]  # ours only: the hub's address
    assert ours == theirs["use_apitally"]
    kinds = {n: p.kind.name for n, p in inspect.signature(use_apitally).parameters.items() if n != "hub_url"}
    assert kinds == theirs["kinds"]
    assert _defaults(ApitallyConsumer) == theirs["consumer"]


def test_the_blacksheep_integration_imports_nothing_of_the_hub() -> None:
    modules = _modules_after("import apitally.blacksheep")
    assert not {m for m in modules if m.split(".")[0] == "tallyhub"}
    assert "apitally.blacksheep" in modules
