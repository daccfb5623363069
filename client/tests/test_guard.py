"""Faults of the client never change the app's response nor raise into it; in tests they fail loudly."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from apitally.client import guard
from apitally.client.transport import Transport
from apitally.flask import ApitallyMiddleware
from flask import Flask

CLIENT_ID = "8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11"


def make_app(hub_url: str, **options: Any) -> Flask:
    app = Flask(__name__)
    app.get("/ok")(lambda: {"ok": True})

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("kaboom")

    app.wsgi_app = ApitallyMiddleware(app, client_id=CLIENT_ID, env="dev", hub_url=hub_url, **options)  # type: ignore[method-assign]
    return app


def responses(app: Flask) -> list[tuple[int, bytes]]:
    out = []
    client = app.test_client()
    for url in ("/ok", "/boom", "/nowhere", "/ok"):
        with client.get(url) as response:
            out.append((response.status_code, response.get_data()))
    return out


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "STRICT", False)
    monkeypatch.setattr(guard, "_reported", set())


def broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("injected fault")


def test_broken_aggregator_changes_nothing(hub: Any, lenient: None, caplog: pytest.LogCaptureFixture) -> None:
    reference = responses(make_app(hub.url))
    app = make_app(hub.url, enable_request_logging=True)
    client = app.wsgi_app.client  # type: ignore[attr-defined]
    app.wsgi_app._count = broken  # type: ignore[attr-defined]
    client.server_errors.add = broken
    client.request_logger.add = broken
    client.requests.take = broken
    with caplog.at_level(logging.ERROR, logger="apitally"):
        assert responses(app) == reference
        assert responses(app) == reference
        # The worker meets the broken aggregates too; a loaded machine may take seconds to get there.
        client.shutdown(timeout=10)
    faults = [r.getMessage() for r in caplog.records if "client fault" in r.getMessage()]
    assert len(faults) == len(set(faults)) >= 2  # each place logged once, not per request


def test_broken_transport_and_hub_changes_nothing(
    hub: Any, lenient: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = responses(make_app(hub.url))
    monkeypatch.setattr(Transport, "post", broken)
    app = make_app(hub.url, enable_request_logging=True)
    assert responses(app) == reference
    app.wsgi_app.client.shutdown(timeout=2)  # type: ignore[attr-defined]  # the worker survives its fault


def test_hub_answering_garbage_status_changes_nothing(hub: Any) -> None:
    reference = responses(make_app(hub.url))
    hub.answers.update(startup=(lambda: (500, b"<html>")), sync=(lambda: (200, b"\x00\xff")))
    app = make_app(hub.url)
    assert responses(app) == reference
    app.wsgi_app.client.shutdown(timeout=2)  # type: ignore[attr-defined]


def test_strict_mode_turns_client_faults_into_test_failures(hub: Any) -> None:
    app = make_app(hub.url)
    app.wsgi_app._count = broken  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="injected fault"), app.test_client().get("/ok") as response:
        response.get_data()
