"""End to end: an app stops syncing, and the "down" and then the "back up" notifications arrive at a
webhook and by e-mail, sent by a real `tallyhub serve` (heartbeats from the uptime monitor, the rule
from the alerts thread) on each engine."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tallyhub.alerts import channel_urls as channels
from tallyhub.alerts import channels as alert_channels
from tallyhub.alerts import rules as alert_rules
from tallyhub.alerts.rule_spec import parse_form
from tallyhub.storage.database import Database
from tallyhub.storage.tables import alert_rules as alert_rules_table
from tallyhub.storage.tables import apps

from tests.e2e.test_seed_snippets_tallyhub import load_seed_app
from tests.support.hub_process import HubProcess
from tests.support.receivers import smtp_server, webhook
from tests.support.syncs import request_entry, startup_body, sync_body

FAST = {
    "TALLYHUB_HEARTBEAT_TIMEOUT_SECONDS": "2",
    "TALLYHUB_UPTIME_TICK_SECONDS": "0.2",
    "TALLYHUB_ALERTS_TICK_SECONDS": "0.2",
}


def _wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _alert_when_down(db: Database, app_id: int, env: str, urls: list[str]) -> None:
    """An "environment down" rule named "<env> down" that notifies each Apprise URL."""
    with db.write() as conn:
        team_id = conn.execute(sa.select(apps.c.team_id).where(apps.c.id == app_id)).scalar_one()
        ids = [
            alert_channels.create(conn, team_id, f"channel {n}", channels.parse(url).kind, url, time.time())
            for n, url in enumerate(urls)
        ]
        spec = parse_form({"name": f"{env} down", "env": env, "kind": "env_down"}, [env])
        rule_id = alert_rules.create(conn, app_id, spec, time.time())
        alert_rules.set_channels(conn, rule_id, team_id, ids)
        # The form offers checks every minute and up; one second keeps these tests short.
        conn.execute(
            alert_rules_table.update().where(alert_rules_table.c.id == rule_id).values(interval_seconds=1)
        )


@contextlib.contextmanager
def _syncing(sync: Callable[[], None], every: float = 0.3) -> Iterator[None]:
    """Sync now, then every `every` seconds in a thread until the block ends."""
    sync()
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            sync()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=15)


def test_app_stops_syncing_then_comes_back(hub, database_url) -> None:
    hub.stop()
    hub.start(**FAST)
    created = hub.create_app("Shop", "prod")
    app_id, client_id = int(created["id"]), str(created["client_id"])
    db = Database(database_url)
    instance = str(uuid.uuid4())
    base = f"{hub.url}/v2/{client_id}/prod"

    def sync() -> None:
        body = sync_body(instance, requests=[request_entry("GET", "/items", 200, 3, 40)])
        assert httpx.post(f"{base}/sync", json=body, timeout=10).status_code == 202

    try:
        with webhook() as hook, smtp_server() as mailbox:
            _alert_when_down(db, app_id, "prod", [hook.apprise_url, mailbox.apprise_url])
            assert (
                httpx.post(f"{base}/startup", json=startup_body(instance, [("GET", "/items")])).status_code
                == 202
            )
            for _ in range(3):  # the app is up and syncing
                sync()
                time.sleep(0.3)
            assert hook.received == [] and mailbox.messages == []
            # The app stops syncing: after the 2 s heartbeat timeout the env is down.
            _wait_for(lambda: len(hook.received) >= 1 and len(mailbox.messages) >= 1)
            assert hook.titles() == ["[Alert] Shop (prod): prod down"]
            assert mailbox.subjects() == ["[Alert] Shop (prod): prod down"]
            assert "the environment is down" in hook.received[0]["message"]
            assert f"/apps/{app_id}/uptime?env=prod" in mailbox.text(0)
            # It syncs again, and keeps syncing while the test looks (on a slow machine the checks
            # below can take longer than the heartbeat timeout): back up.
            with _syncing(sync):
                _wait_for(lambda: len(hook.received) >= 2 and len(mailbox.messages) >= 2)
                time.sleep(1)
                assert hook.titles() == [
                    "[Alert] Shop (prod): prod down",
                    "[Back to normal] Shop (prod): prod down",
                ]
                assert mailbox.subjects() == hook.titles()
                assert "back up" in mailbox.text(1)
                history = hub.api(f"/apps/{app_id}/alert-history")
            assert [e["kind"] for e in history] == ["resolved", "fired"]  # type: ignore[union-attr,index]
            assert all(n["status"] == "sent" for e in history for n in e["notifications"])  # type: ignore[union-attr,index]
    finally:
        db.dispose()


def test_instrumented_app_stops_then_restarts(hub, database_url, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same with the setup guide's app and the project's own client: its syncs are the heartbeat."""
    hub.stop()
    hub.start(**FAST)
    created = hub.create_app("Seed API", "dev")
    app_id = int(created["id"])
    db = Database(database_url)

    def run_app_until_it_synced() -> None:
        seed = load_seed_app(hub.url, str(created["client_id"]), monkeypatch)
        with seed.app.test_client().get("/items/1") as response:
            assert response.status_code == 200
        before = _last_sync(hub, app_id)
        _wait_for(lambda: _last_sync(hub, app_id) != before)  # the client's first sync, ~1 s after start
        seed.app.wsgi_app.client.shutdown(timeout=10)  # the process exits: no more syncs

    try:
        with webhook() as hook, smtp_server() as mailbox:
            _alert_when_down(db, app_id, "dev", [hook.apprise_url, mailbox.apprise_url])
            run_app_until_it_synced()
            _wait_for(lambda: len(hook.received) >= 1 and len(mailbox.messages) >= 1)
            assert "the environment is down" in hook.received[0]["message"]
            run_app_until_it_synced()  # restarted
            _wait_for(lambda: len(hook.received) >= 2 and len(mailbox.messages) >= 2)
            # Stopped again, it will go down again later; the first two messages are this test's.
            expected = ["[Alert] Seed API (dev): dev down", "[Back to normal] Seed API (dev): dev down"]
            assert hook.titles()[:2] == expected
            assert mailbox.subjects()[:2] == expected
    finally:
        db.dispose()


def _last_sync(hub: HubProcess, app_id: int) -> object:
    instances: Any = hub.api(f"/apps/{app_id}/instances", env="dev")
    return max((i["last_sync_at"] for i in instances), default=None, key=lambda v: v or "")
