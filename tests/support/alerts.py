"""Alert-test helpers: an app with channels and rules, and the alerts scheduler on a clock the test drives."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from tallyhub.alerts import channel_urls as channels
from tallyhub.alerts import channels as alert_channels
from tallyhub.alerts import rules as alert_rules
from tallyhub.alerts.rule_spec import parse_form
from tallyhub.alerts.scheduler import AlertScheduler
from tallyhub.settings import Settings, load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database
from tallyhub.storage.tables import alert_events, alert_notifications, apps, incidents

from tests.support.metric_rows import MetricWriter

T0 = 1_800_000_000.0  # a whole hour (2027-01-15 08:00 UTC); tests move the clock from here


@dataclasses.dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclasses.dataclass
class AlertWorld:
    """One app "Shop" (envs prod, dev) in its team, a MetricWriter, the scheduler on a driven clock."""

    db: Database
    settings: Settings
    app_id: int
    team_id: int
    writer: MetricWriter
    clock: Clock
    scheduler: AlertScheduler

    def channel(self, url: str, name: str = "ops") -> int:
        parsed = channels.parse(url)
        with self.db.write() as conn:
            return alert_channels.create(conn, self.team_id, name, parsed.kind, url, self.clock.now)

    def rule(self, channel_ids: tuple[int, ...] = (), **form: Any) -> int:
        fields = {"name": "rule", "env": "prod", **{k: str(v) for k, v in form.items()}}
        spec = parse_form(fields, ("prod", "dev"))
        with self.db.write() as conn:
            rule_id = alert_rules.create(conn, self.app_id, spec, self.clock.now)
            alert_rules.set_channels(conn, rule_id, self.team_id, channel_ids)
        return rule_id

    def tick(self, seconds: float = 0.0) -> None:
        """Move the clock, then run the scheduler once (as its thread would)."""
        self.clock.advance(seconds)
        self.scheduler.run_once()

    def events(self) -> list[tuple[str, float | None]]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(alert_events.c.kind, alert_events.c.value).order_by(alert_events.c.id)
            )
            return [(kind, value) for kind, value in rows]

    def notifications(self) -> list[sa.Row]:
        with self.db.read() as conn:
            return conn.execute(sa.select(alert_notifications).order_by(alert_notifications.c.id)).all()

    def env_id(self, env: str = "prod") -> int:
        with self.db.read() as conn:
            found = app_store.env_id_for(conn, self.app_id, env)
        assert found is not None
        return found

    def open_incident(self, kind: str = "heartbeat", cause: str = "no sync for 3 min") -> int:
        with self.db.write() as conn:
            return int(
                conn.execute(
                    incidents.insert()
                    .values(
                        env_id=self.env_id(), kind=kind, started_at=self.clock.now, cause=cause, details={}
                    )
                    .returning(incidents.c.id)
                ).scalar_one()
            )

    def close_incidents(self) -> None:
        with self.db.write() as conn:
            conn.execute(
                incidents.update().where(incidents.c.ended_at.is_(None)).values(ended_at=self.clock.now)
            )


def alert_world(db: Database, **settings: Any) -> AlertWorld:
    created = app_store.create_app(db, "Shop", ("prod", "dev"))
    with db.read() as conn:
        team_id = conn.execute(sa.select(apps.c.team_id).where(apps.c.id == created.id)).scalar_one()
    config = load_settings(
        {
            "database_url": db.url.render_as_string(hide_password=False),
            "public_url": "https://hub.example.com",
            "outbound_allow_local": True,  # channels in these tests post to receivers on 127.0.0.1
            **settings,
        },
        environ={},
    )
    clock = Clock()
    return AlertWorld(
        db,
        config,
        created.id,
        team_id,
        MetricWriter(db, created.id),
        clock,
        AlertScheduler(db, config, clock),
    )
