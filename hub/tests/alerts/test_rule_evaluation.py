"""Alert rules checked against metric rows on both engines, with the clock driven by the test."""

from __future__ import annotations

import pytest
from tallyhub.alerts import rule_metrics
from tallyhub.storage.database import Database

from tests.support.alerts import T0, alert_world
from tests.support.metric_rows import Req
from tests.support.receivers import webhook


def _traffic(world, start: float, minutes: int, per_minute: int, **req) -> None:
    reqs = [
        Req(
            start + m * 60 + i * 0.1,
            req.get("method", "GET"),
            req.get("path", "/items"),
            req.get("status", 200),
            consumer=req.get("consumer"),
            response_time_ms=req.get("ms", 50),
        )
        for m in range(minutes)
        for i in range(per_minute)
    ]
    world.writer.write(reqs)


def test_p95_fires_after_n_breaching_checks_and_resolves_after_m_good_ones(db: Database) -> None:
    world = alert_world(db)
    with webhook() as hook:
        channel = world.channel(hook.apprise_url)
        world.rule(
            (channel,),
            name="slow prod",
            metric="p95",
            window_seconds=300,
            interval_seconds=60,
            comparison=">",
            threshold=500,
            fire_after=3,
            resolve_after=2,
        )
        # Slow responses during the 5-minute window before each of the checks below.
        _traffic(world, T0 - 300, 10, 5, ms=800)
        world.tick()
        world.tick(60)
        assert world.events() == []  # two breaching checks: not yet
        world.tick(60)
        assert [kind for kind, _ in world.events()] == ["fired"]
        assert world.events()[0][1] == pytest.approx(800, abs=10)
        assert len(hook.received) == 1
        message = hook.received[0]
        assert "Shop" in message["title"] and "slow prod" in message["title"]
        assert "p95 response time is 810 ms" in message["message"]  # 809.5: 95 % into the 800 ms bin
        assert "above the threshold of 500 ms" in message["message"]
        assert (
            f"https://hub.example.com/apps/{world.app_id}/performance?env=prod&period=1h"
            in message["message"]
        )
        # Fast traffic from now on: resolved after two good checks, no second firing meanwhile.
        _traffic(world, world.clock.now + 60, 20, 5, ms=20)
        world.tick(6 * 60)  # the window holds only fast requests
        world.tick(60)
        assert [kind for kind, _ in world.events()] == ["fired"]
        world.tick(60)
        assert [kind for kind, _ in world.events()] == ["fired", "resolved"]
        assert len(hook.received) == 2
        assert "back to normal" in hook.received[1]["message"]
        assert hook.received[1]["type"] == "success" and hook.received[0]["type"] == "failure"


def test_a_rule_is_checked_once_per_interval_however_often_the_scheduler_ticks(db: Database) -> None:
    world = alert_world(db)
    rule_id = world.rule(
        metric="requests", window_seconds=300, interval_seconds=300, comparison=">", threshold=1
    )
    _traffic(world, T0 - 120, 2, 3)
    from tallyhub.alerts import rules as alert_rules

    for _ in range(10):
        world.tick(5)
    with db.read() as conn:
        rule = alert_rules.get(conn, rule_id)
    assert rule is not None and rule.breach_streak == 1 and rule.last_checked_at == T0 + 5
    world.tick(255)  # T0 + 305: one interval after the first check
    with db.read() as conn:
        rule = alert_rules.get(conn, rule_id)
    # Checked again (the traffic has left the window by now: a good check).
    assert rule is not None and rule.last_checked_at == T0 + 305 and rule.good_streak == 1


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("requests", 30.0),
        ("requests_per_minute", 6.0),
        ("requests_5xx", 10.0),
        ("requests_4xx", 5.0),
        ("error_rate", 50.0),
        ("p50", 55.0),  # interpolated inside the 50-60 ms bin
        ("unique_consumers", 2.0),
    ],
)
def test_metric_values_over_the_window(db: Database, metric: str, expected: float) -> None:
    world = alert_world(db)
    _traffic(world, T0 - 240, 5, 3, consumer="acme")  # 15 OK
    _traffic(world, T0 - 240, 5, 2, status=500, consumer="globex")  # 10 server errors
    _traffic(world, T0 - 240, 5, 1, status=404)  # 5 client errors
    _traffic(world, T0 - 3600, 5, 50)  # before the window: not counted
    with db.read() as conn:
        flt = rule_metrics.scope_filters("prod", None, None)
        value = rule_metrics.measure(conn, world.app_id, metric, flt, T0, 300, 500)
    assert value == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("scope", "scope_value", "expected"),
    [
        (None, None, 3.0),
        ("consumer", "acme", 2.0),
        ("group", "partners", 1.0),
        ("endpoint", "POST /orders/{id}", 1.0),
    ],
)
def test_scopes_narrow_the_metric(
    db: Database, scope: str | None, scope_value: str | None, expected: float
) -> None:
    world = alert_world(db)
    world.writer.consumer("globex", group="partners")
    _traffic(world, T0 - 60, 1, 2, consumer="acme", status=500)
    _traffic(world, T0 - 60, 1, 1, consumer="globex", status=500, method="POST", path="/orders/<int:id>")
    world.rule(
        metric="requests_5xx",
        window_seconds=300,
        comparison=">=",
        threshold=1,
        scope=scope or "",
        scope_value=scope_value or "",
    )
    world.tick()
    from tallyhub.alerts import rules as alert_rules

    with db.read() as conn:
        (rule,) = alert_rules.of_app(conn, world.app_id)
    assert rule.last_value == expected


def test_no_requests_means_no_value_for_percentiles_and_never_fires(db: Database) -> None:
    world = alert_world(db)
    world.rule(metric="apdex", window_seconds=300, comparison="<", threshold=0.9)
    world.tick()
    world.tick(60)
    assert world.events() == []


def test_env_down_and_health_check_rules_follow_open_incidents(db: Database) -> None:
    world = alert_world(db)
    with webhook() as hook:
        channel = world.channel(hook.apprise_url)
        world.rule((channel,), name="prod down", kind="env_down")
        world.rule((channel,), name="check failing", kind="health_check_failing")
        world.tick()
        assert hook.received == []
        world.open_incident("heartbeat", "no instance synced for 3 min")
        world.tick(60)
        assert hook.titles() == ["[Alert] Shop (prod): prod down"]
        assert "no instance synced for 3 min" in hook.received[0]["message"]
        world.tick(60)
        world.close_incidents()
        world.tick(60)
        assert hook.titles()[1] == "[Back to normal] Shop (prod): prod down"
        assert "back up" in hook.received[1]["message"]
        assert len(hook.received) == 2


def test_consumer_went_quiet(db: Database) -> None:
    world = alert_world(db)
    world.writer.consumer("steady-co", name="Steady Co")
    # steady-co: requests in each of the 6 hours before the last hour, then nothing.
    for hour in range(7, 1, -1):
        _traffic(world, T0 - hour * 3600 + 600, 1, 2, consumer="steady-co")
    # now-and-then: one hour only (not steady); busy-co: steady and still active.
    _traffic(world, T0 - 5 * 3600, 1, 2, consumer="now-and-then")
    for hour in range(7, 0, -1):
        _traffic(world, T0 - hour * 3600 + 1800, 1, 2, consumer="busy-co")
    _traffic(world, T0 - 300, 1, 1, consumer="busy-co")
    with webhook() as hook:
        channel = world.channel(hook.apprise_url)
        world.rule((channel,), name="quiet", kind="consumer_quiet", window_seconds=3600, baseline_hours=5)
        world.tick()
        assert world.events() == [("fired", 1.0)]
        assert "Steady Co" in hook.received[0]["message"]
        assert (
            "busy-co" not in hook.received[0]["message"] and "now-and-then" not in hook.received[0]["message"]
        )
