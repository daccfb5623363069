"""Notification delivery: retried with backoff when a channel fails, given up after a bound and shown;
exactly one notification per event with two hub processes' schedulers on one database."""

from __future__ import annotations

import threading

from tallyhub.alerts import delivery
from tallyhub.alerts.scheduler import AlertScheduler
from tallyhub.storage.database import Database

from tests.support.alerts import alert_world
from tests.support.receivers import smtp_server, webhook


def test_failed_delivery_is_retried_with_backoff_then_sent(db: Database) -> None:
    world = alert_world(db)
    with webhook() as hook:
        hook.failing = True
        world.rule((world.channel(hook.apprise_url),), name="down", kind="env_down")
        world.open_incident()
        world.tick()
        (n,) = world.notifications()
        assert (n.status, n.attempts) == ("pending", 1)
        assert "500" in n.last_error or "error" in n.last_error.lower()
        assert n.next_attempt_at == world.clock.now + delivery.BACKOFF[0]
        world.tick(delivery.BACKOFF[0] - 1)  # not due yet
        assert world.notifications()[0].attempts == 1
        world.tick(1)
        assert world.notifications()[0].attempts == 2
        hook.failing = False
        world.tick(delivery.BACKOFF[1])
        (n,) = world.notifications()
        assert (n.status, n.attempts, n.last_error) == ("sent", 3, None)
        assert len(hook.received) == 1


def test_delivery_gives_up_after_the_last_attempt_and_keeps_the_error(db: Database) -> None:
    world = alert_world(db)
    with webhook() as hook:
        hook.failing = True
        world.rule((world.channel(hook.apprise_url),), name="down", kind="env_down")
        world.open_incident()
        world.tick()
        for wait in delivery.BACKOFF:
            world.tick(wait)
        (n,) = world.notifications()
        assert (n.status, n.attempts, n.next_attempt_at) == ("failed", delivery.MAX_ATTEMPTS, None)
        assert n.last_error
        world.tick(24 * 3600)
        assert world.notifications()[0].attempts == delivery.MAX_ATTEMPTS


def test_email_and_webhook_each_get_the_firing_and_the_resolution(db: Database) -> None:
    world = alert_world(db)
    with webhook() as hook, smtp_server() as mailbox:
        channels = (world.channel(hook.apprise_url, "hook"), world.channel(mailbox.apprise_url, "mail"))
        world.rule(channels, name="prod down", kind="env_down")
        world.open_incident(cause="no instance synced for 3 min")
        world.tick()
        world.close_incidents()
        world.tick(60)
        assert mailbox.subjects() == [
            "[Alert] Shop (prod): prod down",
            "[Back to normal] Shop (prod): prod down",
        ]
        assert "environment is down" in mailbox.text(0)
        assert "back up" in mailbox.text(1)
        assert hook.titles() == mailbox.subjects()
        assert {n.status for n in world.notifications()} == {"sent"}


def test_two_hub_processes_send_each_notification_once(db: Database) -> None:
    """Two schedulers, each with its own engine (as two `tallyhub serve` processes have), tick together.

    Real processes cannot have their clock driven, so this runs the same AlertScheduler code twice in
    threads against one database: every claim goes through the database, as between processes.
    """
    world = alert_world(db)
    other_db = Database(db.url.render_as_string(hide_password=False))
    try:
        other = AlertScheduler(other_db, world.settings, world.clock)
        with webhook() as hook, smtp_server() as mailbox:
            channels = (world.channel(hook.apprise_url, "hook"), world.channel(mailbox.apprise_url, "mail"))
            for i in range(5):
                world.rule(channels, name=f"down {i}", kind="env_down", interval_seconds=60)
            barrier = threading.Barrier(2)

            def run(scheduler: AlertScheduler) -> None:
                for _ in range(12):
                    barrier.wait()
                    scheduler.run_once()
                    barrier.wait()
                    if scheduler is other:
                        world.clock.advance(10)

            def one_phase() -> None:
                threads = [threading.Thread(target=run, args=(s,)) for s in (world.scheduler, other)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=120)

            world.open_incident()
            one_phase()
            world.close_incidents()
            one_phase()
        # 5 rules x (fired + resolved) = 10 events, each to 2 channels, each delivered exactly once.
        assert sorted(kind for kind, _ in world.events()) == ["fired"] * 5 + ["resolved"] * 5
        assert len(hook.received) == 10 and len(mailbox.messages) == 10
        assert sorted(hook.titles()) == sorted(mailbox.subjects())
        assert len(set(hook.titles())) == 10
    finally:
        other_db.dispose()
