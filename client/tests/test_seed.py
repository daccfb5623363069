"""The setup guide's snippets (tests/apps/seed_app.py) deliver to a hub over real sockets."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from .conftest import APPS


def load_seed_app(hub_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("APITALLY_HUB_BASE_URL", hub_url)
    spec = importlib.util.spec_from_file_location("seed_app_under_test", APPS / "seed_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_snippets_deliver(hub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = load_seed_app(hub.url, monkeypatch)
    client = seed.app.test_client()
    for url, status in [("/items/1", 200), ("/items/2", 200), ("/named/profile", 200), ("/boom", 500)]:
        with client.get(url) as response:
            assert response.status_code == status
    seed.app.wsgi_app.client.shutdown(timeout=5)
    assert hub.count(path="/items/<int:item_id>", consumer="127.0.0.1", status_code=200) == 2
    assert hub.count(path="/named/profile", consumer="john.doe@example.com") == 1
    consumers = [c for s in hub.bodies("sync") for c in s["consumers"]]
    assert consumers == [{"identifier": "john.doe@example.com", "name": "John Doe", "group": "Customers"}]
    errors = [e for s in hub.bodies("sync") for e in s["server_errors"]]
    assert [(e["path"], e["type"], e["msg"]) for e in errors] == [("/boom", "builtins.ValueError", "kaboom")]
    assert all(c["path"].startswith(f"/v2/{seed.CLIENT_ID}/dev/") for c in hub.calls)
