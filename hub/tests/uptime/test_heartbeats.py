"""Heartbeats: an env is down when no instance syncs for heartbeat_timeout_seconds (both engines)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tallyhub.analytics.incidents import open_incidents
from tallyhub.outbound.policy import Policy
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import incidents
from tallyhub.uptime import checks as check_store
from tallyhub.uptime import heartbeats
from tallyhub.uptime.incidents import HEALTH_CHECK, HEARTBEAT, open_incident

from tests.support.uptime import Clock, env_id, incidents_of, synced

LOCAL = Policy(allow_local=True)  # the checks here point at 127.0.0.1
LOCAL_CHECK = {"url": "http://127.0.0.1:9/"}

SETTINGS = load_settings({"heartbeat_timeout_seconds": 180}, environ={})


@pytest.fixture
def shop(db):
    return app_store.create_app(db, "Shop", ("prod", "dev"))


def test_silent_env_goes_down_and_comes_back(db, shop) -> None:
    clock = Clock()
    prod = env_id(db, shop.id)
    t0 = clock.now
    instance = synced(db, prod, t0)
    assert heartbeats.run(db, SETTINGS, clock.advance(179)) == (0, 0)
    assert open_incidents(db, prod) == []

    assert heartbeats.run(db, SETTINGS, clock.advance(2)) == (1, 0)
    assert heartbeats.run(db, SETTINGS, clock.advance(60)) == (0, 0)  # still down: one incident
    [down] = open_incidents(db, prod)
    assert (down.kind, down.started_at, down.ended_at) == (HEARTBEAT, t0 + 180, None)
    assert down.cause.startswith("No instance of Shop / prod has synced since ")
    assert down.details == {"last_sync_at": t0, "timeout_seconds": 180}

    synced(db, prod, t0 + 400, instance)
    assert heartbeats.run(db, SETTINGS, clock.advance(200)) == (0, 1)
    [back] = incidents_of(db, prod)
    assert (back.started_at, back.ended_at) == (t0 + 180, t0 + 400)
    assert open_incidents(db, prod) == []


def test_only_envs_that_synced_are_watched_and_the_switch_turns_it_off(db, shop) -> None:
    clock = Clock()
    prod, dev = env_id(db, shop.id), env_id(db, shop.id, "dev")
    synced(db, prod, clock.now)
    heartbeats.run(db, SETTINGS, clock.advance(3600))
    assert len(open_incidents(db, prod)) == 1
    assert incidents_of(db, dev) == []  # dev never synced: not monitored

    with db.write() as conn:
        check_store.set_heartbeat(conn, prod, False, clock.now)
    assert open_incidents(db, prod) == []
    assert incidents_of(db, prod)[0].ended_at == clock.now
    assert heartbeats.run(db, SETTINGS, clock.advance(3600)) == (0, 0)


def test_at_most_one_open_incident_per_env_kind_and_check(db, shop) -> None:
    prod = env_id(db, shop.id)
    with db.write() as conn:
        assert open_incident(conn, prod, HEARTBEAT, None, 1.0, "down", {})
        assert not open_incident(conn, prod, HEARTBEAT, None, 2.0, "down again", {})
        check = check_store.create(conn, prod, check_store.validate(LOCAL_CHECK, LOCAL), 0.0)
        assert open_incident(conn, prod, HEALTH_CHECK, check, 3.0, "failing", {})
        assert not open_incident(conn, prod, HEALTH_CHECK, check, 4.0, "failing", {})
    # The database itself refuses a second open incident (the partial unique index), not only the code.
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
        conn.execute(
            incidents.insert().values(
                env_id=prod, kind=HEARTBEAT, started_at=5.0, cause="duplicate", details={}
            )
        )
    assert len(open_incidents(db, prod)) == 2
