"""SyncShortcut (ingest/v2/routes.py): syncs skip FastAPI's routing and get the answers the router gives."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tallyhub.app import create_app
from tallyhub.ingest.v2 import routes
from tallyhub.ingest.writer import Writer
from tallyhub.settings import load_settings
from tallyhub.storage import apps
from tallyhub.storage.database import Database

DATA = Path(__file__).parent / "data"
CAPTURED_AT = 1795715400.0  # the hub's clock: the captured payloads' times fall in the ingestion window


def hub(db: Database, shortcut: bool = True) -> FastAPI:
    app = create_app(load_settings({}), db, run_maintenance=False)
    app.state.ingest_writer = Writer(db, clock=lambda: CAPTURED_AT)
    if not shortcut:  # the middleware stack is built on the first request: this app routes every sync
        app.user_middleware = [m for m in app.user_middleware if m.cls is not routes.SyncShortcut]
    return app


def send(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(run())


def sync_body(**changes: Any) -> bytes:
    data: dict[str, Any] = json.loads((DATA / "python_flask_sync.json").read_text())
    data.update(changes)
    return json.dumps(data).encode()


def test_a_sync_goes_past_the_router_and_through_the_header_middleware(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = hub(db)
    client_id = apps.create_app(db, "Shop", ("prod",)).client_id
    handled: list[tuple[str, str]] = []
    original = routes.sync

    async def counted(client: str, env: str, request: Any) -> Any:
        handled.append((client, env))
        return await original(client, env, request)

    # The router keeps the function it was declared with: only the shortcut calls this one.
    monkeypatch.setattr(routes, "sync", counted)
    response = send(
        app, "POST", f"/v2/{client_id}/prod/sync", content=sync_body(message_uuid=str(uuid.uuid4()))
    )
    assert response.status_code == 202, response.text
    assert handled == [(client_id, "prod")]
    assert response.headers["x-content-type-options"] == "nosniff"  # SecurityHeaders saw it
    # Other methods and paths are the router's, as before.
    assert send(app, "GET", f"/v2/{client_id}/prod/sync").status_code == 405
    assert send(app, "POST", f"/v2/{client_id}/prod/startup", content=b"{}").status_code == 422
    assert handled == [(client_id, "prod")]


def test_the_shortcut_answers_as_the_router_does(db: Database) -> None:
    client_id = apps.create_app(db, "Shop", ("prod",)).client_id
    # Each app stores its own message (then gets its retry): the two share the database.
    apps_and_messages = [(hub(db), str(uuid.uuid4())), (hub(db, shortcut=False), str(uuid.uuid4()))]
    sync = f"/v2/{client_id}/prod/sync"
    cases: list[tuple[str, str, dict[str, Any] | bytes, dict[str, str]]] = [
        ("POST", sync, {}, {}),
        ("POST", sync, {}, {}),  # the retry: acknowledged as a duplicate
        ("POST", sync, b"not json", {}),
        ("POST", sync, {"requests": [{"method": "GET"}] * 30}, {}),  # 422 naming the fields
        ("POST", sync, {"timestamp": 1.0}, {}),  # outside the ingestion window
        ("POST", f"/v2/{client_id}/pr od/sync", {}, {}),
        ("POST", f"/v2/{uuid.uuid4()}/prod/sync", {}, {}),
        ("POST", "/v2/not-a-client-id/prod/sync", {}, {}),
        ("POST", f"{sync}/", {}, {}),
        ("POST", sync, b"[]", {"accept-encoding": "gzip"}),
        ("PUT", sync, {}, {}),
    ]
    for method, path, changes, headers in cases:
        a, b = (
            send(
                app,
                method,
                path,
                content=changes if isinstance(changes, bytes) else sync_body(message_uuid=message, **changes),
                headers=headers,
            )
            for app, message in apps_and_messages
        )
        assert (a.status_code, a.content) == (b.status_code, b.content), (method, path)
        assert {k: v for k, v in a.headers.items() if k != "date"} == {
            k: v for k, v in b.headers.items() if k != "date"
        }, (method, path)
