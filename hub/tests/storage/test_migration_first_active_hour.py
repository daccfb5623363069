"""Migration 0034: consumers.first_active_hour of data stored before it equals what ingestion keeps (the
earliest hour of each consumer over every env), on both engines."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import HOUR, consumer_hours, consumers

from tests.support.metric_rows import Req

T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())


def _first_hours(db: Any) -> dict[str, int | None]:
    with db.read() as conn:
        return dict(conn.execute(sa.select(consumers.c.identifier, consumers.c.first_active_hour)).all())


def test_the_migration_sets_the_first_hours_ingestion_keeps(api: Any, db: Any) -> None:
    rnd = random.Random(34)
    names = ["alice", "bob", "carol", "dave"]
    requests = [
        Req(
            T0 + rnd.randrange(30 * HOUR),
            "GET",
            "/a",
            rnd.choice([200, 404]),
            rnd.choice(names[:3]),
            env=rnd.choice(["prod", "dev"]),
        )
        for _ in range(200)
    ]
    api.writer.write(requests, rolled=True)
    api.writer.write([Req(T0 + 40 * HOUR, "GET", "/a", 200, "dave")])  # minute rows not rolled yet
    kept = _first_hours(db)
    with db.read() as conn:
        earliest = dict(
            conn.execute(
                sa.select(consumers.c.identifier, sa.func.min(consumer_hours.c.bucket))
                .join(consumer_hours, consumer_hours.c.consumer_id == consumers.c.id)
                .group_by(consumers.c.identifier)
            ).all()
        )
    first_request = {
        n: min(int(r.time) for r in requests if r.consumer == n) // HOUR * HOUR for n in names[:3]
    }
    assert kept == earliest == {**first_request, "dave": (T0 + 40 * HOUR) // HOUR * HOUR}
    config = alembic_config(db)
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0034").down_revision)
    upgrade(db)
    assert _first_hours(db) == kept
