"""Migration 0033: rules on the old instance metrics watch their "max across instances" successors, and
the schedule, time zone and Sentry URL columns come and go (both engines)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import alert_rules

from tests.support.alerts import alert_world


def _metrics(db: Any) -> dict[str, str]:
    with db.read() as conn:
        return dict(conn.execute(sa.select(alert_rules.c.name, alert_rules.c.metric)).all())


def test_instance_metric_rules_become_the_max_across_instances(db: Any) -> None:
    world = alert_world(db)
    for name, metric in (("cpu", "cpu_max"), ("memory", "memory_max"), ("p95", "p95")):
        world.rule(name=name, metric=metric, comparison=">", threshold=1)
    config = alembic_config(db)
    before = ScriptDirectory.from_config(config).get_revision("0033").down_revision
    command.downgrade(config, str(before))
    assert _metrics(db) == {"cpu": "instance_cpu", "memory": "instance_memory", "p95": "p95"}
    with db.read() as conn:
        assert "schedule" not in {c["name"] for c in sa.inspect(conn).get_columns("alert_rules")}
        assert "sentry_org_url" not in {c["name"] for c in sa.inspect(conn).get_columns("apps")}
    upgrade(db)
    assert _metrics(db) == {"cpu": "cpu_max", "memory": "memory_max", "p95": "p95"}
    with db.read() as conn:
        rows = conn.execute(sa.select(alert_rules.c.schedule, alert_rules.c.timezone)).all()
    assert rows == [(None, None)] * 3
