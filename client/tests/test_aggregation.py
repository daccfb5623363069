"""Aggregation units: histogram bins, error formatting, consumer registry, identifier validation."""

from __future__ import annotations

import pytest
from apitally.client.config import ClientConfig, valid_client_id, valid_env
from apitally.client.consumers import ApitallyConsumer, ConsumerRegistry
from apitally.client.metrics import RequestCounter
from apitally.client.server_errors import (
    MAX_MSG_LENGTH,
    MAX_TRACEBACK_LENGTH,
    ServerErrorCounter,
    exception_message,
    exception_traceback,
)


def test_time_and_size_bins_as_the_official_client() -> None:
    counter = RequestCounter()
    for seconds in (0.0, 0.009, 0.01, 0.29, 1.234):
        counter.add(None, "GET", "/a", 200, seconds, 999, 1000)
    counter.add(None, "GET", "/a", 200, 0.001, None, None)
    (row,) = counter.take()
    assert row["response_times"] == {0: 3, 10: 1, 280: 1, 1230: 1}  # 0.29 s lands in 280, as floor(x / 0.01)
    assert row["request_sizes"] == {0: 5} and row["response_sizes"] == {1: 5}
    assert row["request_size_sum"] == 5 * 999 and row["response_size_sum"] == 5000
    assert row["request_count"] == 6
    assert counter.take() == []


def test_server_error_message_and_traceback_limits() -> None:
    try:
        raise RuntimeError("m" * 5000)
    except RuntimeError as exc:
        msg = exception_message(exc)
    assert len(msg) == MAX_MSG_LENGTH and msg.endswith("... (truncated)")

    def ping(n: int) -> None:  # alternating frames: Python does not fold them as repeats
        if n:
            pong(n - 1)
        raise ValueError("deep")

    def pong(n: int) -> None:
        ping(n)

    try:
        ping(450)
    except ValueError as exc:
        tb = exception_traceback(exc)
    assert len(tb) <= MAX_TRACEBACK_LENGTH
    assert tb.startswith("... (truncated) ...\n") and tb.endswith("ValueError: deep")


def test_server_errors_are_grouped() -> None:
    counter = ServerErrorCounter()
    for _ in range(3):
        try:
            {}["k"]
        except KeyError as exc:
            counter.add("c", "GET", "/x", exc)
    (row,) = counter.take()
    assert row["error_count"] == 3 and row["type"] == "builtins.KeyError" and row["msg"] == "'k'"


def test_consumer_registry_reports_new_and_changed_only() -> None:
    registry = ConsumerRegistry()
    registry.add(ApitallyConsumer("plain"))
    registry.add(ApitallyConsumer("a", name="A"))
    assert registry.take_updated() == [{"identifier": "a", "name": "A", "group": None}]
    registry.add(ApitallyConsumer("a", name="A"))
    registry.add(ApitallyConsumer("a"))  # nothing new: cannot clear
    assert registry.take_updated() == []
    registry.add(ApitallyConsumer("a", group="G"))
    assert registry.take_updated() == [{"identifier": "a", "name": "A", "group": "G"}]


@pytest.mark.parametrize(
    "value",
    [
        "8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11",
        "8F1E6B521C0C4A8E9A5E2F7F0C9D3A11",
        "{8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11}",
        "urn:uuid:8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11",
    ],
)
def test_client_ids_accepted_like_the_official_client(value: str) -> None:
    assert valid_client_id(value)


@pytest.mark.parametrize("value", ["", "xyz", "8f1e6b52-1c0c-4a8e-9a5e"])
def test_bad_client_ids(value: str) -> None:
    assert not valid_client_id(value)


def test_env_pattern() -> None:
    assert valid_env("prod") and valid_env("my_env-2") and valid_env("e" * 32)
    assert not valid_env("") and not valid_env("a" * 33) and not valid_env("a b")
    assert not valid_env("é" * 32) and not valid_env("ｐｒｏｄ") and not valid_env("prod\n")  # as the hub


def test_config_prefix_keeps_values_as_given(caplog: pytest.LogCaptureFixture) -> None:
    config = ClientConfig.build("8F1E6B521C0C4A8E9A5E2F7F0C9D3A11", "Prod", "http://hub:1/", None)
    assert config.prefix == "http://hub:1/v2/8F1E6B521C0C4A8E9A5E2F7F0C9D3A11/Prod" and config.enabled
    assert not ClientConfig.build(None, "dev", None, None).enabled
    assert "invalid client_id None" in caplog.text
