"""The rollup's mark covers ids up to through_id, so a minute row with a lower id must not commit after it:
on PostgreSQL ids are taken at insert and committed in any order. The rollup therefore waits for the
transactions writing `metrics` when it starts (rollup._settled_id). SQLite has one writer: nothing to race."""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from tallyhub.metrics import rollup
from tallyhub.metrics.rows import COLUMNS
from tallyhub.settings import load_settings
from tallyhub.storage import apps, bulk
from tallyhub.storage.tables import MINUTE, metrics

from hub.tests.metrics.test_rollup_retention import assert_exact


def _row(env_id: int, bucket: int) -> tuple[Any, ...]:
    return (env_id, MINUTE, bucket, 0, 0, 0, 200, 1, 10, 20, '{"5":1}', '{"0":1}', '{"0":1}', False)


def _rollup_waits_on_a_lock(db: Any) -> bool:
    with db.read() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE ONLY metrics%'"
                )
            ).scalar_one()
        )


def test_a_row_committed_after_a_higher_id_is_rolled_or_left_unrolled_never_lost(db: Any) -> None:
    if db.is_sqlite:
        return
    now = time.time()
    app = apps.create_app(db, "Shop", ("prod",))
    with db.write() as conn:
        env_id = apps.ensure_env(conn, app.id, "prod")
    minute = (int(now) // MINUTE - 30) * MINUTE
    with db.write() as conn:
        bulk.append(conn, metrics, COLUMNS, [_row(env_id, minute + m * MINUTE) for m in range(10)])
    inserted, release, errors = threading.Event(), threading.Event(), []

    def slow_writer() -> None:  # a sync's transaction: its row gets an id, then it takes its time
        try:
            with db.write() as conn:
                bulk.append(conn, metrics, COLUMNS, [_row(env_id, minute + 5 * MINUTE)])
                inserted.set()
                release.wait(30)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(30)
    with db.write() as conn:  # a later id, committed first
        bulk.append(conn, metrics, COLUMNS, [_row(env_id, minute + 6 * MINUTE)])
    rolled: list[int] = []
    settings = load_settings({}, environ={})
    roller = threading.Thread(target=lambda: rolled.append(rollup.run(db, settings, now)))
    roller.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _rollup_waits_on_a_lock(db):
        time.sleep(0.05)
    assert _rollup_waits_on_a_lock(db)  # for the open transaction, before reading any id
    release.set()
    writer.join(30)
    roller.join(30)
    assert errors == []
    assert rolled == [12]
    assert_exact(db)
