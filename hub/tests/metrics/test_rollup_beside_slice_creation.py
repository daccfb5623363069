"""On PostgreSQL the rollup and the creation of a partition slice (maintenance jobs that two hub
processes run at the same time: each job has its own lease) wait for each other instead of deadlocking.

Found by BENCH=soak: ATTACH PARTITION of a slice of metrics_g60 needs an ACCESS EXCLUSIVE lock on its
default partition, which the rollup read (ACCESS SHARE) and then had to write (ROW EXCLUSIVE): the two
deadlocked and PostgreSQL aborted one of them. PostgreSQL only, as tests/storage/test_metric_partitions.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from tallyhub.metrics import rollup
from tallyhub.metrics.rows import COLUMNS
from tallyhub.settings import load_settings
from tallyhub.storage import apps, bulk, partitions
from tallyhub.storage.partitions import METRIC_SLICES
from tallyhub.storage.tables import DAY, MINUTE, UNROLLED_MINUTES, metrics

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def _waiting_on_a_lock(db: Any, pid: int) -> bool:
    with db.read() as conn:
        return (
            conn.execute(
                sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar()
            == "Lock"
        )


def test_a_slice_created_during_a_rollup_waits_for_it(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    app = apps.create_app(db, "Shop", ("prod",))
    with db.write() as conn:
        env_id = apps.ensure_env(conn, app.id, "prod")
    # Unrolled minute rows of a day no slice covers (a hub whose slices maintenance has not made yet):
    # they wait in metrics_g60's default partition, which the rollup reads and then moves its mark past.
    stray_day = (int(now) // DAY - 12) * DAY
    rows = [
        (
            env_id,
            MINUTE,
            stray_day + m * MINUTE,
            2,
            1,
            1,
            200,
            1,
            100,
            200,
            '{"5":1}',
            '{"0":1}',
            '{"0":1}',
            False,
        )
        for m in range(30)
    ]
    with db.write() as conn:
        bulk.append(conn, metrics, COLUMNS, rows)
    new_slice_day = stray_day - 10 * DAY
    errors: list[BaseException] = []
    attaching: list[threading.Thread] = []
    original = rollup._batch_span

    def create_slice() -> None:
        try:
            with db.write() as conn:
                pid.append(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
                partitions.create_slice(conn, METRIC_SLICES[MINUTE], new_slice_day)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    pid: list[int] = []

    def span_while_a_slice_is_created(*args: Any) -> Any:
        # Midway through the rollup's transaction (the batch's span read, its rows not summed yet),
        # another process's maintenance creates a slice; the rollup goes on once that one waits for a lock.
        span = original(*args)
        if not attaching:
            attaching.append(threading.Thread(target=create_slice))
            attaching[0].start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and attaching[0].is_alive():
                if pid and _waiting_on_a_lock(db, pid[0]):
                    break
                time.sleep(0.05)
        return span

    monkeypatch.setattr(rollup, "_batch_span", span_while_a_slice_is_created)
    rolled = rollup.run(db, load_settings({}, environ={}), now)
    attaching[0].join(timeout=30)
    assert errors == []
    assert rolled == 30
    with db.read() as conn:
        assert partitions.slices_of(conn, METRIC_SLICES[MINUTE]).get(
            METRIC_SLICES[MINUTE].name(new_slice_day)
        )
        unrolled = conn.execute(
            sa.select(sa.func.count()).select_from(metrics).where(sa.text(UNROLLED_MINUTES))
        ).scalar_one()
    assert unrolled == 0
