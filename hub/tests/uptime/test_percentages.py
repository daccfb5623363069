"""Uptime percentages, daily bars, state and retention of uptime data (both engines)."""

from __future__ import annotations

import pytest
from tallyhub.outbound.policy import Policy
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import health_check_results
from tallyhub.uptime import checks as check_store
from tallyhub.uptime import heartbeats, retention
from tallyhub.uptime.figures import check_percentages, env_uptime, uptime_percent
from tallyhub.uptime.incidents import HEALTH_CHECK, HEARTBEAT, close_incident, open_incident

from tests.support.uptime import Clock, env_id, incidents_of, synced

LOCAL = Policy(allow_local=True)  # the checks here point at 127.0.0.1
LOCAL_CHECK = {"url": "http://127.0.0.1:9/"}

DAY = 86400


def test_overlapping_incidents_count_once_and_windows_clip_to_monitoring_start() -> None:
    spans = [(100.0, 200.0), (150.0, 250.0), (900.0, 1000.0)]
    assert uptime_percent(spans, 0, 1000, 0) == 75.0
    assert uptime_percent(spans, 0, 1000, 500) == 80.0  # watched for 500 s, down 100 s of them
    assert uptime_percent(spans, 0, 1000, None) is None
    assert uptime_percent(spans, 0, 1000, 1000) is None
    assert uptime_percent([], 0, 1000, 0) == 100.0


def test_env_uptime_over_the_windows(db) -> None:
    clock = Clock()
    shop = app_store.create_app(db, "Shop", ("prod", "dev"))
    prod = env_id(db, shop.id)
    start = clock.now
    synced(db, prod, start)  # monitoring starts with the first sync
    clock.advance(10 * DAY)
    with db.write() as conn:
        # Down 1 h two days ago, and down for the last 36 min (still open).
        open_incident(conn, prod, HEARTBEAT, None, clock.now - 2 * DAY, "silent", {})
        close_incident(conn, prod, HEARTBEAT, None, clock.now - 2 * DAY + 3600)
        open_incident(conn, prod, HEARTBEAT, None, clock.now - 2160, "silent again", {})
    with db.read() as conn:
        up = env_uptime(conn, prod, clock.now)
        dev = env_uptime(conn, env_id(db, shop.id, "dev"), clock.now)
    assert (up.state, up.since) == ("down", clock.now - 2160)
    assert up.percentages == {
        "24h": 97.5,
        "7d": round(100 * (1 - (3600 + 2160) / (7 * DAY)), 3),
        "30d": round(100 * (1 - (3600 + 2160) / (10 * DAY)), 3),  # clipped to the 10 days watched
        "90d": round(100 * (1 - (3600 + 2160) / (10 * DAY)), 3),
    }
    assert len(up.days) == 90 and up.days[0].percent is None and up.days[-1].start <= clock.now
    assert [i["cause"] for i in up.incidents] == ["silent again", "silent"]
    assert up.incidents[0]["duration_seconds"] == 2160 and up.incidents[0]["ended_at"] is None
    assert up.incidents[1]["duration_seconds"] == 3600
    assert dev.state == "unmonitored" and dev.percentages["24h"] is None


def test_state_up_since_the_last_incident_and_check_uptime(db) -> None:
    clock = Clock()
    prod = env_id(db, app_store.create_app(db, "Shop", ("prod",)).id)
    with db.write() as conn:
        check = check_store.create(conn, prod, check_store.validate(LOCAL_CHECK, LOCAL), clock.now)
        open_incident(conn, prod, HEALTH_CHECK, check, clock.now + 3600, "failing", {})
        close_incident(conn, prod, HEALTH_CHECK, check, clock.now + 7200)
    clock.advance(DAY)
    with db.read() as conn:
        up = env_uptime(conn, prod, clock.now)
        row = check_store.checks_of_app(conn, app_store.list_apps(conn)[0].id)[0]
        assert check_percentages(conn, row, clock.now)["24h"] == round(100 * 23 / 24, 3)
    assert (up.state, up.since) == ("up", clock.now - DAY + 7200)


def test_retention_keeps_open_incidents_and_recent_results(db) -> None:
    clock = Clock()
    prod = env_id(db, app_store.create_app(db, "Shop", ("prod",)).id)
    settings = load_settings({"retention_uptime_days": 90, "heartbeat_timeout_seconds": 180}, environ={})
    synced(db, prod, clock.now)
    heartbeats.run(db, settings, clock.advance(3600))
    with db.write() as conn:
        check = check_store.create(conn, prod, check_store.validate(LOCAL_CHECK, LOCAL), clock.now)
        for at in (clock.now, clock.now + 95 * DAY):
            conn.execute(
                health_check_results.insert().values(check_id=check, checked_at=at, ok=True, attempts=1)
            )
        open_incident(conn, prod, HEALTH_CHECK, check, clock.now, "failing", {})
        close_incident(conn, prod, HEALTH_CHECK, check, clock.now + 60)
    retention.run(db, settings, clock.advance(95 * DAY))
    assert [i.kind for i in incidents_of(db, prod)] == [HEARTBEAT]  # the open one stays
    with db.read() as conn:
        assert conn.execute(health_check_results.select()).all()[0].checked_at == clock.now


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("url", "ftp://example.com/", "not an http:// or https:// URL"),
        ("url", "", "is required"),
        ("url", "http://example.com:99999/", "invalid port"),
        ("url", "http://exa mple.com/", "spaces or control characters"),
        ("url", "http://example.com/\x00", "spaces or control characters"),
        ("body_contains", "a\x00b", "NUL"),
        ("method", "FETCH", "'FETCH' is not one of GET"),
        ("expected_status", "99", "between 100 and 599"),
        ("expected_status", "ok", "'ok' is not a whole number"),
        ("interval_seconds", "5", "between 10 and 86400"),
        ("timeout_seconds", "0", "between 0.1 and 14"),
        ("timeout_seconds", "30", "between 0.1 and 14"),  # two attempts stay within 30 s
    ],
)
def test_validation_names_the_field(field: str, value: str, words: str) -> None:
    raw = {"url": "https://example.com/health", field: value}
    with pytest.raises(check_store.InvalidField) as caught:
        check_store.validate(raw, LOCAL)
    assert caught.value.field == field and words in caught.value.message
