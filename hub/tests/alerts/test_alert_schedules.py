"""Cron schedules for checks: checked only in matching minutes (UTC or the rule's time zone), at most
every interval; an alert open when the schedule ends stays open until the next scheduled check; bad
expressions and zones are refused naming the field, in the dashboard (400) and the API (422)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tallyhub.alerts import rules as alert_rules
from tallyhub.storage.database import Database

from tests.support.alerts import T0, AlertWorld, alert_world
from tests.support.metric_rows import Req

HOUR = 3600
MONDAY_9 = T0 + 3 * 24 * HOUR + HOUR
BUSINESS_HOURS = "* 9-17 * * 1-5"
ERRORS_RULE = {"metric": "requests_5xx", "window_seconds": 300, "comparison": ">=", "threshold": 1}


def test_t0_is_a_friday_at_8_utc() -> None:
    # The schedule tests below count on it.
    assert datetime.fromtimestamp(T0, UTC).strftime("%a %H:%M") == "Fri 08:00"


def _errors(world: AlertWorld, start: float, minutes: int) -> None:
    world.writer.write([Req(start + m * 60, "GET", "/items", 500) for m in range(minutes)])


def _rule(world: AlertWorld, rule_id: int) -> alert_rules.Rule:
    with world.db.read() as conn:
        found = alert_rules.get(conn, rule_id)
    assert found is not None
    return found


def _at(world: AlertWorld, when: float) -> None:
    world.clock.now = when
    world.scheduler.run_once()


def test_a_business_hours_rule_is_checked_only_in_them(db: Database) -> None:
    world = alert_world(db)
    _errors(world, T0 - 240, 69)  # a server error every minute from 07:56 to 09:04
    rule_id = world.rule(interval_seconds=60, schedule=BUSINESS_HOURS, **ERRORS_RULE)
    assert _rule(world, rule_id).next_check_at == T0 + HOUR  # created at 08:00: first check at 09:00
    world.tick()
    world.tick(30 * 60)  # 08:30: errors in the window, but outside the schedule: not checked
    assert _rule(world, rule_id).last_checked_at is None and world.events() == []
    world.tick(30 * 60)  # 09:00
    assert world.events() == [("fired", 5.0)]
    assert _rule(world, rule_id).next_check_at == T0 + HOUR + 60
    _at(world, T0 + 9 * HOUR + 59 * 60)  # 17:59, the day's last scheduled minute: no errors since 09:04
    assert [kind for kind, _ in world.events()] == ["fired", "resolved"]
    assert _rule(world, rule_id).next_check_at == MONDAY_9


def test_an_alert_open_when_the_schedule_ends_stays_open_until_the_next_scheduled_check(db: Database) -> None:
    world = alert_world(db)
    evening = T0 + 9 * HOUR + 58 * 60  # Friday 17:58
    _errors(world, evening - 120, 3)  # 17:56, 17:57, 17:58
    world.clock.now = evening
    rule_id = world.rule(interval_seconds=60, schedule=BUSINESS_HOURS, **ERRORS_RULE)
    world.tick()
    world.tick(60)  # 17:59: the last check of the week
    assert world.events() == [("fired", 3.0)]
    for later in (60, 2 * HOUR, 24 * HOUR, 2 * 24 * HOUR):  # Friday 18:00 .. Sunday: nothing is checked
        _at(world, evening + 60 + later)
        rule = _rule(world, rule_id)
        assert (rule.state, rule.last_checked_at, rule.next_check_at) == ("firing", evening + 60, MONDAY_9)
    _at(world, MONDAY_9)  # checked again: the window holds no error any more
    assert [kind for kind, _ in world.events()] == ["fired", "resolved"]
    assert _rule(world, rule_id).last_checked_at == MONDAY_9


@pytest.mark.parametrize(
    ("timezone", "first_check"),
    [
        ("", T0 + HOUR),  # UTC: 09:00 is an hour away
        ("Europe/Berlin", T0),  # 08:00 UTC is 09:00 in Berlin (CET in January): checked at once
        ("America/New_York", T0 + 6 * HOUR),  # 09:00 EST is 14:00 UTC
    ],
)
def test_the_schedule_is_read_in_the_rules_time_zone(db: Database, timezone: str, first_check: float) -> None:
    world = alert_world(db)
    rule_id = world.rule(schedule=BUSINESS_HOURS, timezone=timezone, **ERRORS_RULE)
    assert _rule(world, rule_id).next_check_at == first_check
    assert _rule(world, rule_id).timezone == (timezone or None)


@pytest.mark.parametrize(
    ("interval", "schedule", "checks"),
    [
        (900, BUSINESS_HOURS, [0, 15, 30, 45, 60]),  # every 15 min within the hours
        (60, "*/20 * * * *", [0, 20, 40, 60]),  # the expression is sparser than the interval
        (300, "0-7 9 * * *", [0, 5, 1440]),  # 09:00, 09:05, then 09:00 the next day
    ],
)
def test_checks_run_every_interval_but_only_in_matching_minutes(
    db: Database, interval: int, schedule: str, checks: list[int]
) -> None:
    world = alert_world(db)
    world.clock.now = T0 + HOUR  # Friday 09:00
    rule_id = world.rule(interval_seconds=interval, schedule=schedule, **ERRORS_RULE)
    seen = []
    for _ in checks:
        due = _rule(world, rule_id).next_check_at
        _at(world, due)
        assert _rule(world, rule_id).last_checked_at == due
        seen.append(int((due - T0 - HOUR) // 60))
    assert seen == checks


def test_pausing_and_resuming_keeps_to_the_schedule(db: Database) -> None:
    world = alert_world(db)
    rule_id = world.rule(schedule=BUSINESS_HOURS, **ERRORS_RULE)
    with db.write() as conn:
        alert_rules.set_paused(conn, rule_id, True, T0)
        alert_rules.set_paused(conn, rule_id, False, T0 + 60)
    assert _rule(world, rule_id).next_check_at == T0 + HOUR


BAD_SCHEDULES = [
    ({"schedule": "* 25 * * *"}, "schedule", "not a valid cron expression (Bad hour)"),
    ({"schedule": "0 0 30 2 *"}, "schedule", "not a valid cron expression"),
    ({"schedule": "* * *"}, "schedule", "five fields"),
    ({"schedule": "* * * * * " + "1" * 100}, "schedule", "at most 100 characters"),
    ({"schedule": BUSINESS_HOURS, "timezone": "Mars/Olympus"}, "timezone", "not a time zone name"),
    ({"timezone": "Europe/Berlin"}, "timezone", "a time zone applies to a schedule"),
]
FORM = {"name": "errors", "env": "prod", "kind": "metric", "metric": "requests_5xx", "comparison": ">="}


@pytest.mark.parametrize(("change", "field", "message"), BAD_SCHEDULES)
def test_a_bad_schedule_is_a_400_in_the_dashboard(
    web: Any, change: dict[str, str], field: str, message: str
) -> None:
    from tallyhub.storage import apps as app_store

    web.user("mia@example.com", "Acme", "member")
    shop = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    mia = web.signed_in("mia@example.com")
    response = web.post(mia, f"/apps/{shop.id}/alerts", {**FORM, "threshold": "1", **change})
    assert response.status_code == 400
    assert f"{field}: " in response.text and message.replace("'", "&#39;") in response.text
    with web.db.read() as conn:
        assert alert_rules.of_app(conn, shop.id) == []


def test_the_form_keeps_and_shows_the_schedule(web: Any) -> None:
    from tallyhub.storage import apps as app_store

    web.user("mia@example.com", "Acme", "member")
    shop = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    mia = web.signed_in("mia@example.com")
    assert "Time zone of the schedule (empty: UTC)" in mia.get(f"/apps/{shop.id}/alerts/new").text
    fields = {**FORM, "threshold": "1", "schedule": "  *  9-17 * * 1-5 ", "timezone": "Europe/Berlin"}
    assert web.post(mia, f"/apps/{shop.id}/alerts", fields).status_code == 303
    with web.db.read() as conn:
        (rule,) = alert_rules.of_app(conn, shop.id)
    assert (rule.schedule, rule.timezone) == (BUSINESS_HOURS, "Europe/Berlin")
    listed = mia.get(f"/apps/{shop.id}/alerts").text
    assert f"only at <code>{BUSINESS_HOURS}</code> (Europe/Berlin)" in listed
    assert "stays open until the next scheduled check" in listed
    edit = mia.get(f"/apps/{shop.id}/alerts/{rule.id}/edit").text
    assert f'value="{BUSINESS_HOURS}"' in edit and 'value="Europe/Berlin"' in edit
    page = mia.get(f"/apps/{shop.id}/alerts/{rule.id}").text
    assert f"only in minutes matching <code>{BUSINESS_HOURS}</code> (Europe/Berlin)" in page
    assert "an open alert stays open until the next scheduled check" in page
    # Clearing the schedule (and its zone) checks the rule around the clock again.
    cleared = {**fields, "schedule": "", "timezone": ""}
    assert web.post(mia, f"/apps/{shop.id}/alerts/{rule.id}", cleared).status_code == 303
    with web.db.read() as conn:
        (rule,) = alert_rules.of_app(conn, shop.id)
    assert (rule.schedule, rule.timezone) == (None, None)


API_RULE = {"name": "errors", "env": "prod", "metric": "requests_5xx", "comparison": ">=", "threshold": 1}


@pytest.mark.parametrize(("change", "field", "message"), BAD_SCHEDULES)
def test_a_bad_schedule_is_a_422_in_the_api(
    api: Any, change: dict[str, str], field: str, message: str
) -> None:
    url = f"/api/v1/apps/{api.app_id}/alert-rules"
    created = api.client.post(url, json={**API_RULE, **change})
    assert created.status_code == 422, created.text
    (error,) = created.json()["detail"]
    assert field in error["loc"] and message in error["msg"]
    rule = api.client.post(url, json=API_RULE).json()
    patched = api.client.patch(f"{url}/{rule['id']}", json=change)
    assert patched.status_code == 422 and field in patched.json()["detail"][0]["loc"]
    assert api.client.get(f"{url}/{rule['id']}").json() == rule


def test_the_api_sets_and_clears_a_schedule(api: Any) -> None:
    url = f"/api/v1/apps/{api.app_id}/alert-rules"
    created = api.client.post(url, json={**API_RULE, "schedule": "0 9 * * *", "timezone": "Asia/Tokyo"})
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["schedule"], rule["timezone"]) == ("0 9 * * *", "Asia/Tokyo")
    due = datetime.fromisoformat(rule["next_check_at"].replace("Z", "+00:00"))
    assert due.astimezone(UTC).strftime("%H:%M") == "00:00"  # 09:00 in Tokyo
    patched = api.client.patch(f"{url}/{rule['id']}", json={"schedule": None, "timezone": None}).json()
    assert (patched["schedule"], patched["timezone"]) == (None, None)
