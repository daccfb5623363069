"""Migration 0026: per-consumer hours of data stored before it equal what ingestion adds up, and where hour
rows were already gone (day rows outlive them) the env's coverage starts at its first hour row (both engines).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import HOUR, MINUTE, consumer_hours, envs, metrics

from tests.support.metric_rows import Req

T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())


def _requests(start: int, span: int, n: int) -> list[Req]:
    rnd = random.Random(start)
    return [
        Req(
            start + rnd.randrange(span),
            "GET",
            rnd.choice(["/a", "/b"]),
            rnd.choice([200, 201, 404, 500]),
            rnd.choice(["alice", "bob", "carol", None]),
            env=rnd.choice(["prod", "dev"]),
        )
        for _ in range(n)
    ]


def _hours(db: Any) -> set[tuple[Any, ...]]:
    with db.read() as conn:
        return {tuple(row) for row in conn.execute(sa.select(consumer_hours))}


def _coverage(db: Any) -> dict[int, int]:
    with db.read() as conn:
        return dict(conn.execute(sa.select(envs.c.id, envs.c.consumer_hours_since)).all())


def test_the_migration_builds_the_hours_ingestion_keeps(api: Any, db: Any) -> None:
    api.writer.write(_requests(T0, 2 * 86400, 300), rolled=True)  # hour and day rows, minutes rolled
    api.writer.write(_requests(T0 + 2 * 86400, 3 * HOUR, 100))  # minute rows not rolled yet
    kept = _hours(db)
    assert len(kept) > 20 and all(row[3] >= row[4] for row in kept)
    command.downgrade(alembic_config(db), "0027")  # just before 0026
    upgrade(db)
    assert _hours(db) == kept
    assert set(_coverage(db).values()) == {0}  # hour rows hold all: every range can be read from them


def test_hours_deleted_before_the_migration_leave_their_ranges_to_the_day_rows(api: Any, db: Any) -> None:
    api.writer.write(_requests(T0, 2 * 86400, 300), rolled=True)
    command.downgrade(alembic_config(db), "0027")  # just before 0026
    first_kept = T0 + 86400 + 5 * HOUR
    with db.write() as conn:  # what hour retention had done: the day rows stay
        conn.execute(metrics.delete().where(metrics.c.granularity == HOUR, metrics.c.bucket < first_kept))
        conn.execute(metrics.delete().where(metrics.c.granularity == MINUTE))
    upgrade(db)
    with db.read() as conn:
        first_hours = dict(
            conn.execute(
                sa.select(metrics.c.env_id, sa.func.min(metrics.c.bucket))
                .where(metrics.c.granularity == HOUR)
                .group_by(metrics.c.env_id)
            ).all()
        )
    assert len(first_hours) == 2 and _coverage(db) == first_hours  # each env from its first hour row on
    assert min(row[1] for row in _hours(db)) >= first_kept
    # The read API's consumer list over the whole range still counts every request (from day rows).
    listed = api.get("/consumers", start=str(T0), end=str(T0 + 2 * 86400), interval="hour")
    assert sum(c["requests"] for c in listed) == sum(1 for r in _requests(T0, 2 * 86400, 300) if r.consumer)
