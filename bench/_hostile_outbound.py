"""BENCH=hostile, case "outbound": one team's 40 hanging checks and a hanging channel against another
team's 10 s check and webhook, on the hub's real pools and tick threads (the wall clock, real sockets).

Team A: 40 health checks (timeout 14 s, the cap) on a socket that accepts and never answers, and a
channel on that socket with a notification due every second. Team B: one health check every 10 s on a
real HTTP server and a webhook notification due every 10 s. Printed: B's worst gap between two check
runs and worst delivery delay (due -> received), and their ratio to the target (2 x 10 s; <= 1 meets it).
BENCH_HOSTILE_SECONDS (default 60) sets how long the attack lasts.
"""

from __future__ import annotations

import logging
import os
import time

from tallyhub.accounts import teams
from tallyhub.alerts import channel_urls
from tallyhub.alerts import channels as alert_channels
from tallyhub.alerts import rules as alert_rules
from tallyhub.alerts.rule_spec import parse_form
from tallyhub.alerts.scheduler import AlertScheduler
from tallyhub.outbound.policy import Policy
from tallyhub.outbound.pool import TeamPool
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.apps import env_id_for
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import alert_events, alert_notifications
from tallyhub.uptime import checks as check_store
from tallyhub.uptime.monitor import UptimeMonitor

from bench import _dataset
from bench.queries import databases
from tests.support.hanging import HangingServer
from tests.support.http_target import HttpTarget
from tests.support.receivers import webhook

INTERVAL = 10.0
TARGET = 2 * INTERVAL
LOCAL = Policy(allow_local=True)  # the targets are on 127.0.0.1


def _team_app(db: Database, team: str) -> tuple[int, int, int]:
    with db.write() as conn:
        team_id = teams.ensure_team(conn, team).id
    app = app_store.create_app(db, f"{team} app", ("prod",), team_id=team_id)
    with db.read() as conn:
        env = env_id_for(conn, app.id, "prod")
    assert env is not None
    return team_id, app.id, int(env)


def _channel_and_rule(db: Database, team_id: int, app_id: int, url: str) -> tuple[int, int]:
    with db.write() as conn:
        channel = alert_channels.create(conn, team_id, "ops", channel_urls.parse(url).kind, url, time.time())
        rule = alert_rules.create(
            conn, app_id, parse_form({"name": "down", "env": "prod", "kind": "env_down"}, ("prod",)), 0.0
        )
    return channel, rule


def _due_notification(db: Database, rule_id: int, channel_id: int, title: str, at: float) -> None:
    with db.write() as conn:
        event = conn.execute(
            alert_events.insert()
            .values(rule_id=rule_id, kind="fired", at=at, since=at, threshold=0, title=title, body="bench")
            .returning(alert_events.c.id)
        ).scalar_one()
        conn.execute(
            alert_notifications.insert().values(
                event_id=event, channel_id=channel_id, status="pending", created_at=at, next_attempt_at=at
            )
        )


def run(engine: str, url: str) -> bool:
    db = Database(url)
    upgrade(db)
    seconds = float(os.environ.get("BENCH_HOSTILE_SECONDS", "60"))
    settings = load_settings(
        {
            "database_url": url,
            "outbound_allow_local": True,
            "uptime_tick_seconds": 1,
            "alerts_tick_seconds": 1,
        },
        environ={},
    )
    hanging, target = HangingServer(), HttpTarget()
    check_pool = TeamPool("checks", settings.check_workers, settings.outbound_team_share)
    delivery_pool = TeamPool("deliveries", settings.delivery_workers, settings.outbound_team_share)
    team_a, app_a, env_a = _team_app(db, "A")
    team_b, app_b, env_b = _team_app(db, "B")
    now = time.time()
    with db.write() as conn:
        for _ in range(40):
            spec = check_store.validate(
                {"url": hanging.url, "timeout_seconds": 14, "interval_seconds": 10}, LOCAL
            )
            check_store.create(conn, env_a, spec, now)
        spec = check_store.validate({"url": target.url, "interval_seconds": 10}, LOCAL)
        check_store.create(conn, env_b, spec, now)
    monitor = UptimeMonitor(db, settings, pool=check_pool)
    scheduler = AlertScheduler(db, settings, pool=delivery_pool)
    delays: list[float] = []
    with webhook() as hook:
        channel_a, rule_a = _channel_and_rule(db, team_a, app_a, hanging.apprise_url)
        channel_b, rule_b = _channel_and_rule(db, team_b, app_b, hook.apprise_url)
        due_b: dict[str, float] = {}
        seen = 0
        monitor.start()
        scheduler.start()
        started = time.time()
        next_b = started
        try:
            while time.time() - started < seconds:
                at = time.time()
                _due_notification(db, rule_a, channel_a, "A", at)
                if at >= next_b:
                    title = f"B {len(due_b)}"
                    due_b[title] = at
                    _due_notification(db, rule_b, channel_b, title, at)
                    next_b += INTERVAL
                for body in hook.received[seen:]:
                    delays.append(time.time() - due_b[str(body["title"])])
                seen = len(hook.received)
                time.sleep(1.0)
            # Count what is still owed to B as delayed until now.
            ended = time.time()
            received = {str(b["title"]) for b in hook.received}
            owed = [ended - at for title, at in due_b.items() if title not in received]
        finally:
            scheduler.stop()
            monitor.stop()
            hanging.release()
            check_pool.shutdown()
            delivery_pool.shutdown()
            hanging.close()
            target.stop()
    runs = list(target.hit_times)
    gaps = [b - a for a, b in zip([started, *runs], [*runs, ended], strict=False)]
    worst_gap = max(gaps)
    worst_delivery = max(delays + owed) if delays or owed else float("inf")
    print(
        f"{engine:8s} B check: {len(runs)} runs in {seconds:.0f} s, worst gap {worst_gap:5.1f} s "
        f"(ratio to {TARGET:.0f} s: {worst_gap / TARGET:.2f}); "
        f"B webhook: {len(delays)}/{len(due_b)} delivered, worst delay {worst_delivery:5.1f} s "
        f"(ratio {worst_delivery / TARGET:.2f}); A's hanging connections accepted: {hanging.accepted}",
        flush=True,
    )
    db.dispose()
    return worst_gap <= TARGET and worst_delivery <= TARGET


def main() -> bool:
    # Team A's sends fail by the hundred, each logged as a warning: keep the figures readable.
    logging.getLogger("tallyhub").setLevel(logging.ERROR)
    ok = True
    for engine, url in databases(_dataset.Spec(requests=0)):
        ok &= run(engine, url)
    return ok
