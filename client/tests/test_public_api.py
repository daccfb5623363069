"""The public API is pinned here; the client's core needs nothing beyond the standard library."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import apitally.flask
from apitally.flask import ApitallyConsumer, ApitallyMiddleware, RequestLoggingConfig, set_consumer


def test_flask_module_exports() -> None:
    assert sorted(apitally.flask.__all__) == [
        "ApitallyConsumer",
        "ApitallyMiddleware",
        "RequestLoggingConfig",
        "set_consumer",
    ]


def test_middleware_signature() -> None:
    params = inspect.signature(ApitallyMiddleware).parameters
    assert list(params)[:7] == [
        "app",
        "client_id",
        "env",
        "app_version",
        "openapi_url",
        "proxy",
        "request_logging_config",
    ]
    assert params["env"].default == "dev"
    assert params["hub_url"].kind is inspect.Parameter.KEYWORD_ONLY and params["hub_url"].default is None
    assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


def test_request_logging_options() -> None:
    names = set(inspect.signature(RequestLoggingConfig).parameters)
    assert names == {
        "enabled",
        "log_query_params",
        "log_request_headers",
        "log_request_body",
        "log_response_headers",
        "log_response_body",
        "log_exception",
        "capture_logs",
        "capture_traces",
        "mask_query_params",
        "mask_headers",
        "mask_body_fields",
        "mask_request_body_callback",
        "mask_response_body_callback",
        "exclude_paths",
        "exclude_callback",
    }
    config = RequestLoggingConfig.from_kwargs({"enable_request_logging": True, "log_request_body": True})
    assert config.enabled and config.log_request_body and config.log_response_headers


def test_consumer_normalisation() -> None:
    consumer = ApitallyConsumer("  " + "i" * 200 + "  ", name=" " + "n" * 80, group="")
    assert consumer.identifier == "i" * 128 and consumer.name == "n" * 64 and consumer.group is None
    assert ApitallyConsumer(42).identifier == "42"
    assert list(inspect.signature(set_consumer).parameters) == ["identifier", "name", "group"]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_flask_integration_imports_nothing_of_the_hub() -> None:
    modules = _modules_after("import apitally.flask")
    assert not {m for m in modules if m.split(".")[0] == "tallyhub"}


def test_core_uses_the_standard_library_only() -> None:
    statement = "import apitally.client.worker, apitally.client.request_log, apitally.client.masking"
    modules = {m.split(".")[0] for m in _modules_after(statement)}
    foreign = modules - set(sys.stdlib_module_names) - {"apitally", "__main__", "_distutils_hack"}
    assert not {m for m in foreign if not m.startswith("_")}, foreign
