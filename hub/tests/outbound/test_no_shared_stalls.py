"""No shared stalls: one team's hanging targets (a socket that accepts and never answers) hold only that
team's share of the check and delivery pools; another team's check, delivery and pages go on (both engines).

Order, not time, is asserted: the other team's work completes while the hanging work is still held.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tallyhub.accounts import teams
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.alerts import channel_urls, delivery
from tallyhub.alerts import channels as alert_channels
from tallyhub.alerts import rules as alert_rules
from tallyhub.alerts.rule_spec import parse_form
from tallyhub.app import create_app
from tallyhub.outbound.policy import Policy
from tallyhub.outbound.pool import TeamPool
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import alert_events, alert_notifications, health_check_results, health_checks
from tallyhub.uptime import checks as check_store
from tallyhub.uptime.monitor import UptimeMonitor

from tests.support.hanging import HangingServer
from tests.support.http_target import HttpTarget
from tests.support.receivers import webhook
from tests.support.uptime import Clock, env_id, incidents_of, synced

LOCAL = Policy(allow_local=True)
SAFETY = 20.0  # seconds a wait may take before the test fails (never reached when all is well)


def _eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + SAFETY
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.02)


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


def _team_app(db: Any, team: str, app: str) -> tuple[int, int]:
    with db.write() as conn:
        team_id = teams.ensure_team(conn, team).id
    return team_id, app_store.create_app(db, app, ("prod",), team_id=team_id).id


def _results(db: Any, env: int) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(health_check_results.join(health_checks))
                .where(health_checks.c.env_id == env)
            ).scalar_one()
        )


def test_forty_hanging_checks_do_not_delay_another_teams_check(db, hanging) -> None:
    target = HttpTarget()
    clock = Clock()
    _, app_a = _team_app(db, "A", "Hangs")
    _, app_b = _team_app(db, "B", "Shop")
    env_a, env_b = env_id(db, app_a), env_id(db, app_b)
    synced(db, env_b, clock.now)  # B's env syncs now, then goes silent: its heartbeat must still be judged
    with db.write() as conn:
        for _ in range(40):
            spec = check_store.validate({"url": hanging.url, "timeout_seconds": 14}, LOCAL)
            check_store.create(conn, env_a, spec, clock.now)
        spec = check_store.validate({"url": target.url, "interval_seconds": 10}, LOCAL)
        check_store.create(conn, env_b, spec, clock.now)
    settings = load_settings(
        {"outbound_allow_local": True, "heartbeat_timeout_seconds": 15, "database_url": "sqlite://"},
        environ={},
    )
    pool = TeamPool("checks", settings.check_workers, settings.outbound_team_share)
    monitor = UptimeMonitor(db, settings, clock, retry_delay=0.01, pool=pool)
    try:
        assert monitor.run_once() == 41  # handed to the pool: the tick does not wait for them
        _eventually(lambda: _results(db, env_b) == 1)
        assert _results(db, env_a) == 0 and hanging.peak_open <= pool.team_cap == 4
        for tick in range(1, 4):  # B's 10 s check keeps its schedule while A's checks still hang
            clock.advance(10)
            monitor.run_once()
            _eventually(lambda tick=tick: _results(db, env_b) == 1 + tick)
        assert _results(db, env_a) == 0
        # Heartbeats were judged at every tick too: B's env has been silent for 30 s > 15 s.
        assert [i.kind for i in incidents_of(db, env_b)] == ["heartbeat"]
    finally:
        hanging.release()
        assert pool.wait_idle(SAFETY)
        pool.shutdown()
        target.stop()
    assert _results(db, env_a) == 40  # each ran once, the rest of its interval later, failing


def _rule(db: Any, app_id: int, team_id: int, channel_id: int) -> int:
    with db.write() as conn:
        rule_id = alert_rules.create(
            conn, app_id, parse_form({"name": "down", "env": "prod", "kind": "env_down"}, ("prod",)), 0.0
        )
        alert_rules.set_channels(conn, rule_id, team_id, (channel_id,))
    return rule_id


def _pending(db: Any, rule_id: int, channel_id: int, now: float) -> int:
    with db.write() as conn:
        event = conn.execute(
            alert_events.insert()
            .values(rule_id=rule_id, kind="fired", at=now, since=now, threshold=0, title="Down", body="down")
            .returning(alert_events.c.id)
        ).scalar_one()
        return int(
            conn.execute(
                alert_notifications.insert()
                .values(
                    event_id=event,
                    channel_id=channel_id,
                    status="pending",
                    created_at=now,
                    next_attempt_at=now,
                )
                .returning(alert_notifications.c.id)
            ).scalar_one()
        )


def _channel(db: Any, team_id: int, url: str) -> int:
    with db.write() as conn:
        return alert_channels.create(conn, team_id, "ops", channel_urls.parse(url).kind, url, 0.0)


def test_a_hanging_channel_does_not_delay_another_teams_delivery(db, hanging) -> None:
    team_a, app_a = _team_app(db, "A", "Hangs")
    team_b, app_b = _team_app(db, "B", "Shop")
    now = 1_800_000_000.0
    channel_a = _channel(db, team_a, hanging.apprise_url)
    rule_a = _rule(db, app_a, team_a, channel_a)
    for _ in range(10):
        _pending(db, rule_a, channel_a, now)
    pool = TeamPool("deliveries", 8, 0.25)
    with webhook() as hook:
        channel_b = _channel(db, team_b, hook.apprise_url)
        mine = _pending(db, _rule(db, app_b, team_b, channel_b), channel_b, now)
        try:
            assert delivery.dispatch(db, now, pool, LOCAL) == 11  # at once: the sends run in the pool
            _eventually(lambda: len(hook.received) == 1)
            _eventually(lambda: _status(db, mine) == "sent")
            assert hanging.peak_open <= pool.team_cap == 2
            with db.read() as conn:
                statuses = (
                    conn.execute(
                        sa.select(alert_notifications.c.last_error).where(
                            alert_notifications.c.channel_id == channel_a
                        )
                    )
                    .scalars()
                    .all()
                )
            assert statuses == [None] * 10  # all still under way (claimed, not yet answered)
        finally:
            hanging.release()
            assert pool.wait_idle(SAFETY * 3)
            pool.shutdown()


def _status(db: Any, notification_id: int) -> str:
    with db.read() as conn:
        return str(
            conn.execute(
                sa.select(alert_notifications.c.status).where(alert_notifications.c.id == notification_id)
            ).scalar_one()
        )


def test_test_notifications_hold_no_request_thread(db, hanging, monkeypatch) -> None:
    """45 test sends to hanging channels of team A are under way; team B's request is answered first."""
    monkeypatch.setattr(delivery, "TEST_WAIT_SECONDS", 3.0)
    url = db.url.render_as_string(hide_password=False)
    app = create_app(
        load_settings({"database_url": url, "outbound_allow_local": True}, environ={}), db, False
    )
    with db.write() as conn:
        team_a = teams.ensure_team(conn, "A").id
        team_b = teams.ensure_team(conn, "B").id
        token_a, token_b = create_team_token(conn, team_a, "ci"), create_team_token(conn, team_b, "ci")
    channels = [_channel(db, team_a, hanging.apprise_url) for _ in range(45)]
    done: list[str] = []
    with TestClient(app) as client:

        def test_send(channel_id: int) -> None:
            answer = client.post(
                f"/api/v1/alert-channels/{channel_id}/test", headers={"Authorization": f"Bearer {token_a}"}
            )
            assert answer.json() == {"delivered": False, "error": delivery.TEST_STILL_SENDING}
            done.append("A")

        threads = [threading.Thread(target=test_send, args=(c,)) for c in channels]
        for thread in threads:
            thread.start()
        _eventually(lambda: hanging.accepted >= app.state.delivery_pool.team_cap)
        page = client.get("/api/v1/alert-channels", headers={"Authorization": f"Bearer {token_b}"})
        assert page.status_code == 200
        done.append("B")
        for thread in threads:
            thread.join()
        assert done[0] == "B" and done.count("A") == 45
        assert hanging.peak_open <= app.state.delivery_pool.team_cap
        hanging.release()
