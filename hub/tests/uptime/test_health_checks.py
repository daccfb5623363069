"""Health checks against real HTTP servers on localhost that go down and come back (both engines).

The clock is the test's: a check is due when the test says time has passed, never after a sleep.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from tallyhub.analytics.incidents import open_incidents
from tallyhub.outbound.policy import Policy
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import health_check_results
from tallyhub.uptime import checks as check_store
from tallyhub.uptime.check_runner import run_due
from tallyhub.uptime.monitor import UptimeMonitor

from tests.support.http_target import HttpTarget
from tests.support.uptime import Clock, env_id, incidents_of

RETRY = 0.05  # seconds between a failure and its retry (1 s in the hub)
LOCAL = Policy(allow_local=True)  # the targets are on 127.0.0.1


@pytest.fixture
def target():
    server = HttpTarget()
    yield server
    server.stop()


@pytest.fixture
def prod(db):
    return env_id(db, app_store.create_app(db, "Shop", ("prod",)).id)


def _check(db, env: int, clock: Clock, **fields) -> int:
    with db.write() as conn:
        return check_store.create(conn, env, check_store.validate(fields, LOCAL), clock.now)


def _results(db, check: int) -> list:
    with db.read() as conn:
        return list(
            conn.execute(
                sa.select(health_check_results)
                .where(health_check_results.c.check_id == check)
                .order_by(health_check_results.c.id)
            ).all()
        )


def test_a_target_that_fails_in_every_way_and_recovers(db, prod, target) -> None:
    clock = Clock()
    check = _check(db, prod, clock, url=target.url, body_contains="all systems go", timeout_seconds=0.5)

    def tick() -> None:
        assert run_due(db, clock.now, LOCAL, RETRY) == 1
        clock.advance(60)

    tick()
    assert open_incidents(db, prod) == []

    target.behaviour.status = 500  # a wrong status
    tick()
    [incident] = open_incidents(db, prod)
    assert incident.started_at == clock.now - 60 and incident.health_check_id == check
    assert incident.cause == f"Health check GET {target.url} failed: status 500, expected 200."
    assert incident.details["status_code"] == 500 and incident.details["url"] == target.url
    assert incident.details["body"] == "ok: all systems go" and incident.details["attempts"] == 2

    target.behaviour.status, target.behaviour.body = 200, "maintenance"  # the text is missing
    tick()
    assert len(open_incidents(db, prod)) == 1  # the same incident goes on

    target.behaviour.body, target.behaviour.delay = "ok: all systems go", 2.0  # too slow
    tick()
    target.behaviour.delay = 0.0
    target.stop()  # connection refused
    tick()
    target.start()
    tick()  # back up
    assert open_incidents(db, prod) == []
    [closed] = incidents_of(db, prod)
    assert closed.ended_at == clock.now - 60

    results = _results(db, check)
    assert [r.ok for r in results] == [True, False, False, False, False, True]
    assert [r.status_code for r in results] == [200, 500, 200, None, None, 200]
    errors = [r.error for r in results]
    assert errors[2] == "the body does not contain 'all systems go'"
    assert errors[3] == "timed out after 0.5 s"
    assert errors[4] is not None and errors[4].startswith("ConnectError")
    assert all(r.latency_ms is not None and r.latency_ms >= 0 for r in results)
    assert [r.attempts for r in results] == [1, 2, 2, 2, 2, 1]


def test_one_retry_before_a_failure_counts(db, prod, target) -> None:
    clock = Clock()
    check = _check(db, prod, clock, url=target.url)
    target.behaviour.fail_next = 1
    run_due(db, clock.now, LOCAL, RETRY)
    assert target.hits == 2
    [result] = _results(db, check)
    assert (result.ok, result.attempts) == (True, 2)
    assert incidents_of(db, prod) == []


def test_method_status_and_schedule(db, prod, target) -> None:
    clock = Clock()
    _check(db, prod, clock, url=target.url, method="HEAD", expected_status=204)
    target.behaviour.status = 204
    assert run_due(db, clock.now, LOCAL, RETRY) == 1
    assert run_due(db, clock.now, LOCAL, RETRY) == 0  # not due again before its interval
    assert run_due(db, clock.advance(59), LOCAL, RETRY) == 0
    assert run_due(db, clock.advance(1), LOCAL, RETRY) == 1
    assert open_incidents(db, prod) == []


def test_a_paused_check_does_not_run_and_its_incident_ends(db, prod, target) -> None:
    clock = Clock()
    check = _check(db, prod, clock, url=target.url)
    target.behaviour.status = 502
    run_due(db, clock.now, LOCAL, RETRY)
    assert len(open_incidents(db, prod)) == 1
    with db.write() as conn:
        check_store.set_paused(conn, check, True, clock.advance(10))
    assert open_incidents(db, prod) == []
    assert run_due(db, clock.advance(600), LOCAL, RETRY) == 0
    with db.write() as conn:
        check_store.set_paused(conn, check, False, clock.now)
    assert run_due(db, clock.now, LOCAL, RETRY) == 1


def test_two_hub_processes_run_each_check_once_per_interval(db, prod, target) -> None:
    """Two monitors on one database (PostgreSQL or SQLite) tick at the same moments, in parallel."""
    clock = Clock()
    for _ in range(3):
        _check(db, prod, clock, url=target.url)
    settings = load_settings({"database_url": "sqlite://", "outbound_allow_local": True}, environ={})
    monitors = [UptimeMonitor(db, settings, clock, RETRY) for _ in range(2)]
    intervals = 5
    barrier = threading.Barrier(2)

    def tick(monitor: UptimeMonitor) -> None:
        barrier.wait()  # both start the tick together
        monitor.run_once()

    for _ in range(intervals):
        for _second in range(0, 60, 10):  # six ticks per interval
            threads = [threading.Thread(target=tick, args=(m,)) for m in monitors]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            clock.advance(10)
    assert target.hits == 3 * intervals
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(health_check_results)).scalar() == 15
