"""Migration 0030 on PostgreSQL: `metrics` partitioned by granularity then bucket (storage/partitions.py).

PostgreSQL only (SQLite keeps its single table, which the rest of the suite covers): each test takes the
"postgres" database of conftest.database_url, so it runs whenever TALLYHUB_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tallyhub.app import MAINTENANCE_JOBS, run_retention
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.jobs.maintenance import Maintenance
from tallyhub.metrics import rollup
from tallyhub.settings import load_settings
from tallyhub.storage import apps, partitions
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.partitions import METRIC_SLICES
from tallyhub.storage.tables import DAY, HOUR, MINUTE, metrics

from tests.support.metric_rows import Req, assert_stats

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

DATA = Path(__file__).parents[1] / "ingest" / "data"
SETTINGS = load_settings({"maintenance_interval_seconds": 60})
# A UTC Thursday midnight, weeks away from the slices the migration made around the real clock, so that
# each test sees only the slices it made. Thursday: hour slices (7 days from the epoch) start then too.
T0 = (int(time.time()) // (7 * DAY) + 10) * 7 * DAY


def _where_rows_are(db: Database) -> dict[str, int]:
    """{partition: rows} of `metrics`."""
    with db.read() as conn:
        rows = conn.execute(
            sa.text("SELECT tableoid::regclass::text, count(*) FROM metrics GROUP BY 1")
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def _slices(db: Database, granularity: int) -> dict[str, tuple[float, float]]:
    with db.read() as conn:
        return partitions.slices_of(conn, METRIC_SLICES[granularity])


def _store_sync(db: Database, app_id: int, at: float, now: float) -> None:
    sync = json.loads((DATA / "python_flask_sync.json").read_text())
    data = {**sync, "message_uuid": str(uuid.uuid4()), "timestamp": at}
    assert Writer(db, clock=lambda: now).store(app_id, "prod", translate.sync(Sync.model_validate(data)))


def _all_rows(db: Database) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(metrics).order_by(metrics.c.id))]


def test_partitions_exist_after_migrate(db: Database) -> None:
    with db.read() as conn:
        kinds = dict(
            conn.execute(
                sa.text("SELECT relname, relkind FROM pg_class WHERE relname IN :names").bindparams(
                    sa.bindparam("names", expanding=True)
                ),
                {"names": ["metrics", "metrics_default", *(s.parent for s in METRIC_SLICES.values())]},
            ).all()
        )
        defaults = conn.execute(
            sa.text("SELECT relname FROM pg_class WHERE relname LIKE 'metrics%default' AND relispartition")
        ).scalars()
        expected_defaults = {"metrics_default", *(s.default for s in METRIC_SLICES.values())}
        assert set(defaults) == expected_defaults
    assert kinds == {
        "metrics": "p",
        "metrics_default": "r",
        "metrics_g60": "p",
        "metrics_g3600": "p",
        "metrics_g86400": "p",
    }
    now = time.time()
    for granularity, slices in METRIC_SLICES.items():
        bounds = _slices(db, granularity).values()
        # The slices from 2 days back to 3 days ahead of the clock are there before any maintenance ran.
        # The probe ahead keeps a few hours back: the test database is copied from a template
        # migrated when the test session began, which may have been the day before.
        for t in (now - 2 * DAY + 1, now, now + 3 * DAY - 3 * HOUR):
            assert any(low <= t < high for low, high in bounds), (granularity, t)
        assert all(high - low == slices.width for low, high in bounds)


def test_inserts_land_in_their_slices_and_rollup_rows_in_theirs(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    partitions.create_ahead(db, T0)
    _store_sync(db, app.id, T0 + 3 * HOUR, now=T0 + 3 * HOUR + 30)
    rollup.run(db, SETTINGS, T0 + 4 * HOUR)
    placed = _where_rows_are(db)
    minute, hour, day = (METRIC_SLICES[g] for g in (MINUTE, HOUR, DAY))
    assert set(placed) == {minute.name(T0), hour.name(T0), day.name(day.start_of(T0))}
    with db.read() as conn:
        per_granularity = dict(
            conn.execute(
                sa.select(metrics.c.granularity, sa.func.count()).group_by(metrics.c.granularity)
            ).all()
        )
    assert placed[minute.name(T0)] == per_granularity[MINUTE] > 0
    assert placed[hour.name(T0)] == per_granularity[HOUR]


def test_a_sync_before_its_slice_exists_is_stored_and_moved_in_by_maintenance(db: Database) -> None:
    """The hub's clock is weeks past the slices made so far: a sync dated 24 hours back still goes in."""
    app = apps.create_app(db, "Shop", ("prod",))
    now = T0 + 12 * HOUR
    _store_sync(db, app.id, now - 24 * HOUR, now=now)
    _store_sync(db, app.id, now - 60, now=now)
    before = _all_rows(db)
    assert set(_where_rows_are(db)) == {"metrics_g60_default"}
    Maintenance(db, SETTINGS, MAINTENANCE_JOBS, clock=lambda: now).run_once()
    placed = _where_rows_are(db)
    minute = METRIC_SLICES[MINUTE]
    assert minute.name(T0 - DAY) in placed and minute.name(T0) in placed
    assert not any(name.endswith("_default") for name in placed)  # the defaults are empty again
    minute_rows = [r for r in _all_rows(db) if r[2] == MINUTE]
    assert [r[:-1] for r in minute_rows] == [r[:-1] for r in before]  # the same rows, now rolled
    # And the clock's next days are ready.
    assert any(low <= now + 3 * DAY < high for low, high in _slices(db, MINUTE).values())


def _minute_rows_in(db: Database, low: float, high: float) -> int:
    with db.read() as conn:
        query = sa.select(sa.func.count()).where(
            metrics.c.granularity == MINUTE, metrics.c.bucket >= low, metrics.c.bucket < high
        )
        return int(conn.execute(query).scalar_one())


def test_maintenance_creates_ahead_and_drops_slices_past_retention(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    clock = [T0 + HOUR]
    maintenance = Maintenance(db, SETTINGS, MAINTENANCE_JOBS, clock=lambda: clock[0])
    maintenance.run_once()
    for day in range(4):
        assert METRIC_SLICES[MINUTE].name(T0 + day * DAY) in _slices(db, MINUTE)
    assert METRIC_SLICES[MINUTE].name(T0 + 4 * DAY) not in _slices(db, MINUTE)
    _store_sync(db, app.id, T0 + HOUR, now=T0 + HOUR)
    _store_sync(db, app.id, T0 + DAY + 10 * MINUTE, now=T0 + DAY + 10 * MINUTE)  # the next day's slice
    _store_sync(db, app.id, T0 + DAY + HOUR, now=T0 + DAY + HOUR)
    clock[0] = T0 + 2 * DAY
    maintenance.run_once()  # rolled: the minute rows may go once past retention
    minute_day0 = METRIC_SLICES[MINUTE].name(T0)
    minute_day1 = METRIC_SLICES[MINUTE].name(T0 + DAY)
    counts = _where_rows_are(db)
    # Minute rows are kept 7 days: with the cutoff at day 1 + 30 minutes, day 0's slice is wholly past
    # (dropped), day 1's partly (its rows before the cutoff deleted, the slice kept).
    cutoff = T0 + DAY + 30 * MINUTE
    old_in_day1 = _minute_rows_in(db, T0 + DAY, cutoff)
    assert counts[minute_day0] > 0 and 0 < old_in_day1 < counts[minute_day1]
    deleted = run_retention(db, SETTINGS, cutoff + 7 * DAY)
    after = _where_rows_are(db)
    assert minute_day0 not in _slices(db, MINUTE) and minute_day1 in _slices(db, MINUTE)
    assert after[minute_day1] == counts[minute_day1] - old_in_day1
    assert deleted >= counts[minute_day0] + old_in_day1  # the dropped slice's rows count as deleted
    hour_slice = METRIC_SLICES[HOUR].name(T0)
    assert after[hour_slice] == counts[hour_slice]
    # Hour rows are kept 90 days: their week's slice goes once its end is 90 days past.
    clock[0] = T0 + 7 * DAY + 90 * DAY
    maintenance.run_once()
    assert hour_slice not in _slices(db, HOUR) and hour_slice not in _where_rows_are(db)
    day_slice = METRIC_SLICES[DAY].name(METRIC_SLICES[DAY].start_of(T0))
    assert _where_rows_are(db)[day_slice] == counts[day_slice]  # day rows: 800 days
    # Meanwhile the slices ahead of the clock were made.
    assert METRIC_SLICES[MINUTE].name(int(clock[0]) + 3 * DAY) in _slices(db, MINUTE)


def test_unrolled_minute_rows_keep_their_slice(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    partitions.create_ahead(db, T0)
    _store_sync(db, app.id, T0 + HOUR, now=T0 + HOUR)
    stored = _where_rows_are(db)[METRIC_SLICES[MINUTE].name(T0)]
    run_retention(db, SETTINGS, T0 + 30 * DAY)  # no rollup ran: deleting them would lose requests
    assert _where_rows_are(db)[METRIC_SLICES[MINUTE].name(T0)] == stored
    rollup.run(db, SETTINGS, T0 + 30 * DAY)
    run_retention(db, SETTINGS, T0 + 30 * DAY)
    assert METRIC_SLICES[MINUTE].name(T0) not in _slices(db, MINUTE)


def _requests_around(boundary: int, n: int) -> list[Req]:
    rnd = random.Random(boundary)
    return [
        Req(
            boundary + rnd.randrange(-3 * HOUR, 3 * HOUR),
            "GET",
            rnd.choice(["/a", "/b"]),
            rnd.choice([200, 404, 500]),
            rnd.choice(["alice", "bob", None]),
            response_time_ms=rnd.choice([12.0, 80.0, 700.0, 2500.0]),
            request_size=rnd.randrange(5000),
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("rolled", [False, True])
def test_dashboard_figures_stay_exact_across_a_slice_boundary(api: Any, db: Database, rolled: bool) -> None:
    # T0 is a midnight (minute slices) and a Thursday (hour slices): both change at T0.
    partitions.create_ahead(db, T0 - DAY)
    partitions.create_ahead(db, T0 + DAY)
    reqs = _requests_around(T0, 400)
    api.writer.write(reqs, rolled=rolled)
    placed = _where_rows_are(db)
    minute, hour = METRIC_SLICES[MINUTE], METRIC_SLICES[HOUR]
    assert {minute.name(T0 - DAY), minute.name(T0)} <= set(placed)
    if rolled:
        assert {hour.name(T0 - 7 * DAY), hour.name(T0)} <= set(placed)
    for start, end, interval in ((T0 - 3 * HOUR, T0 + 3 * HOUR, "minute"), (T0 - DAY, T0 + DAY, "hour")):
        traffic = api.get("/traffic", start=str(start), end=str(end), interval=interval)
        assert_stats(traffic["totals"], reqs)
        assert sum(point["requests"] for point in traffic["series"]) == len(reqs)
    # A range on one side of the boundary counts that side's requests only.
    before = api.get("/traffic", start=str(T0 - 3 * HOUR), end=str(T0), interval="minute")["totals"]
    assert_stats(before, [r for r in reqs if r.time < T0])


def test_a_traffic_read_scans_only_the_slices_of_its_range(api: Any, db: Database) -> None:
    for day in range(-10, 10, 2):
        partitions.create_ahead(db, T0 + day * DAY)  # many slices, most of them outside the range
    api.writer.write(_requests_around(T0, 200), rolled=True)
    api.writer.write(_requests_around(T0 + 6 * HOUR, 50))  # unrolled minutes: read beside hour rows
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "FROM metrics" in statement:
            statements.append((statement, parameters))

    start, end = T0 - 2 * HOUR, T0 + 8 * HOUR
    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        for interval in ("minute", "hour"):
            api.get("/traffic", start=str(start), end=str(end), interval=interval)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    assert statements
    bounds: dict[str, tuple[float, float]] = {}
    for granularity in METRIC_SLICES:
        bounds.update(_slices(db, granularity))
    assert len(bounds) > 20
    scanned: set[str] = set()
    with db.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for statement, parameters in statements:
            cursor.execute("EXPLAIN " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            scanned |= set(re.findall(r"\bon (metrics_\w+)", plan))
    assert scanned
    assert not any(name.endswith("_default") for name in scanned), scanned  # covered ranges skip them
    outside = {name for name in scanned if not (bounds[name][0] < end and start < bounds[name][1])}
    assert outside == set(), outside
    # And the partitions in the range are the ones read: the minute and hour slices holding T0.
    assert {METRIC_SLICES[MINUTE].name(T0 - DAY), METRIC_SLICES[MINUTE].name(T0)} <= scanned
    assert METRIC_SLICES[HOUR].name(T0) in scanned


def test_upgrade_keeps_every_row_and_downgrade_restores_a_plain_table(api: Any, db: Database) -> None:
    api.writer.write(_requests_around(T0, 300), rolled=True)
    api.writer.write(_requests_around(T0 - 400 * DAY, 100), rolled=True)  # far from any slice: a default
    api.writer.write(_requests_around(T0 + 2 * DAY, 100))
    kept = _all_rows(db)
    assert len(kept) > 500
    config = alembic_config(db)
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0030").down_revision)
    with db.read() as conn:
        assert not partitions.is_partitioned(conn, "metrics")
        assert conn.execute(sa.text("SELECT to_regclass('metrics_g60')")).scalar() is None
    assert _all_rows(db) == kept
    upgrade(db)
    with db.read() as conn:
        assert partitions.is_partitioned(conn, "metrics")
    assert _all_rows(db) == kept
    # The upgrade made a slice for every range with rows: the defaults are empty.
    assert not any(name.endswith("_default") for name in _where_rows_are(db))
    # Ids go on from the same sequence.
    api.writer.write([Req(T0 + 60, "GET", "/a", 200)])
    assert min(r[0] for r in _all_rows(db)[len(kept) :]) > max(r[0] for r in kept)
