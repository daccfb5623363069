"""The setup guide's snippets, with the project's own client, deliver to Tallyhub itself.

client/tests/apps/seed_app.py is the guide's three snippets as a user pastes them; here it reports
to a real `tallyhub serve` process over real sockets, and the read API gives back what was sent.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from tests.support.hub_process import REPO, HubProcess

SEED_APP = REPO / "client" / "tests" / "apps" / "seed_app.py"


def load_seed_app(hub_url: str, client_id: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("APITALLY_HUB_BASE_URL", hub_url)
    monkeypatch.setenv("SEED_CLIENT_ID", client_id)
    spec = importlib.util.spec_from_file_location("seed_app_for_tallyhub", SEED_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_snippets_deliver_to_tallyhub(hub: HubProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    created = hub.create_app("Seed API", "dev")
    seed = load_seed_app(hub.url, str(created["client_id"]), monkeypatch)
    client = seed.app.test_client()
    sent = [("GET", "/items/1", 200), ("GET", "/items/2", 200), ("POST", "/items", 201)]
    sent += [("GET", "/named/profile", 200), ("GET", "/boom", 500), ("GET", "/nowhere", 404)]
    body = b'{"name": "gear", "size": 3}'
    for method, url, status in sent:
        with client.open(
            url,
            method=method,
            data=body if method == "POST" else None,
            content_type="application/json" if method == "POST" else None,
        ) as response:
            assert response.status_code == status
    seed.app.wsgi_app.client.shutdown(timeout=10)  # the exit flush: startup, sync

    app_id = created["id"]
    traffic: Any = hub.api(f"/apps/{app_id}/traffic", env="dev")
    totals = traffic["totals"]
    # /nowhere matches no route: like the official client, it is not counted.
    assert (totals["requests"], totals["requests_5xx"]) == (5, 1)
    assert totals["bytes_received"] == len(body)

    consumers = {c["identifier"]: c for c in hub.api(f"/apps/{app_id}/consumers", env="dev")}  # type: ignore[union-attr]
    assert consumers["127.0.0.1"]["requests"] == 4
    john = consumers["john.doe@example.com"]
    assert (john["name"], john["group"], john["requests"]) == ("John Doe", "Customers", 1)

    endpoints = {(e["method"], e["path"]): e for e in hub.api(f"/apps/{app_id}/endpoints", env="dev")}  # type: ignore[union-attr]
    assert endpoints["GET", "/items/<int:item_id>"]["requests"] == 2
    assert endpoints["POST", "/items"]["requests"] == 1
    assert all(e["in_startup"] for e in endpoints.values())

    errors: Any = hub.api(f"/apps/{app_id}/errors", env="dev")
    [error] = errors["server_errors"]
    assert (error["path"], error["type"], error["msg"], error["count"]) == (
        "/boom",
        "builtins.ValueError",
        "kaboom",
        1,
    )
    assert error["consumers"] == ["127.0.0.1"]

    [instance] = hub.api(f"/apps/{app_id}/instances", env="dev")  # type: ignore[misc]
    assert instance["client"] == "python:flask"
