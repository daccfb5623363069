"""Migration 0038: request logs, app-log records and span records in day slices on PostgreSQL
(storage/partitions.py LOG_SLICES); SQLite keeps single tables.

Most tests take the "postgres" database of conftest.database_url, so they run whenever
TALLYHUB_TEST_DATABASE_URL is set (and fail in CI when it is not); the idempotency test runs on both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tallyhub.app import MAINTENANCE_JOBS, run_retention
from tallyhub.ingest import batch
from tallyhub.ingest.writer import Writer
from tallyhub.jobs.maintenance import Maintenance
from tallyhub.settings import load_settings
from tallyhub.storage import apps, partitions
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.partitions import LOG_SLICES
from tallyhub.storage.tables import DAY, HOUR, app_log_records, request_logs, span_hours, span_records

from tests.support import app_logs as data

POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
LOG_TABLES = (request_logs, app_log_records, span_records)
SETTINGS = load_settings({"maintenance_interval_seconds": 60})  # request logs kept 15 days
# A UTC midnight weeks away from the slices the migration made around the real clock, so that each test
# sees only the slices it made.
T0 = (int(time.time()) // DAY + 40) * DAY


def _requests(at: float, n: int, tag: str) -> list[batch.RequestLog]:
    """`n` logged requests from `at` on, 10 s apart, each with 2 app-log records and 2 or 3 spans."""
    logs = [data.request(i, at) for i in range(n)]
    return [
        dataclasses.replace(log, uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}/{i}")))
        for i, log in enumerate(logs)
    ]


def _store(db: Database, app_id: int, logs: list[batch.RequestLog], file_uuid: str | None = None) -> bool:
    now = max(log.timestamp for log in logs) + 60
    file = batch.Batch("log", file_uuid or str(uuid.uuid4()), request_logs=logs)
    return Writer(db, clock=lambda: now).store(app_id, "prod", file)


def _where_rows_are(db: Database, table: sa.Table) -> dict[str, int]:
    """{partition: rows} of `table` (on SQLite, the table itself)."""
    with db.read() as conn:
        if db.is_sqlite:
            return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()}
        rows = conn.execute(
            sa.text(f"SELECT tableoid::regclass::text, count(*) FROM {table.name} GROUP BY 1")
        )
        return dict(rows.all())  # type: ignore[arg-type]


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(sum(_where_rows_are(db, table).values()) for table in LOG_TABLES)


def _slices(db: Database, table: sa.Table) -> dict[str, tuple[float, float]]:
    with db.read() as conn:
        return partitions.slices_of(conn, LOG_SLICES[table.name])


@POSTGRES
def test_the_log_tables_are_cut_in_day_slices_after_migrate(db: Database) -> None:
    now = time.time()
    with db.read() as conn:
        for table in LOG_TABLES:
            assert partitions.is_partitioned(conn, table.name)
            default = conn.execute(sa.text(f"SELECT to_regclass('{table.name}_default')")).scalar()
            assert default == f"{table.name}_default"
        # Read by trace id without a time to bound it: left one table (storage/partitions.py).
        assert not partitions.is_partitioned(conn, "trace_items")
        keys = dict(
            conn.execute(
                sa.text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = 'request_logs'::regclass AND contype IN ('p', 'u')"
                )
            ).all()
        )
    # Every key leads with, or holds, what a distribution by env needs next to the partition key.
    assert keys == {
        "pk_request_logs": 'PRIMARY KEY (id, "timestamp")',
        "uq_request_logs_env_id_uuid_timestamp": 'UNIQUE (env_id, uuid, "timestamp")',
    }
    for table in LOG_TABLES:
        bounds = _slices(db, table).values()
        # The probe ahead keeps a few hours back: the test database is copied from a template
        # migrated when the test session began, which may have been the day before.
        for t in (now - 2 * DAY + 1, now, now + 3 * DAY - 3 * HOUR):
            assert any(low <= t < high for low, high in bounds), (table.name, t)
        assert all(high - low == DAY for low, high in bounds)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_keeps_single_tables(db: Database) -> None:
    with db.read() as conn:
        assert not any(partitions.is_partitioned(conn, table.name) for table in LOG_TABLES)
    assert partitions.create_ahead(db, T0) == 0


def test_a_retried_log_file_is_stored_once(db: Database) -> None:
    """The same file again (a retry while its receipt is kept), after its receipt aged out, and under
    another file uuid (a client's spool sending it anew): each request, record and span is there once."""
    app = apps.create_app(db, "Shop", ("prod",))
    partitions.create_ahead(db, T0)
    # Across a slice boundary: requests of the day before T0 and of T0's day in one file.
    logs = _requests(T0 - 60, 12, "retry")
    file_uuid = str(uuid.uuid4())
    assert _store(db, app.id, logs, file_uuid)
    stored = _counts(db)
    assert stored[0] == 12 and stored[1] == 24 and stored[2] > 24
    placed = _where_rows_are(db, request_logs)
    if not db.is_sqlite:
        assert placed == {
            LOG_SLICES["request_logs"].name(T0 - DAY): 6,
            LOG_SLICES["request_logs"].name(T0): 6,
        }
    assert not _store(db, app.id, logs, file_uuid)  # the receipt answers: a duplicate
    # Receipts are kept 2 hours: retention then forgets the file's uuid, the key still knows its requests.
    run_retention(db, SETTINGS, T0 + 3 * HOUR)
    assert _store(db, app.id, logs, file_uuid)
    assert _store(db, app.id, logs[3:], str(uuid.uuid4()))
    assert _counts(db) == stored
    assert _where_rows_are(db, request_logs) == placed
    # And a request seen anew within a file of new ones adds only the new one.
    assert _store(db, app.id, [logs[0], *_requests(T0 + HOUR, 1, "new")])
    assert _counts(db)[0] == 13


@POSTGRES
def test_logs_before_their_slice_exists_are_moved_in_by_maintenance(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    now = T0 + 12 * HOUR
    _store(db, app.id, _requests(now - 24 * HOUR, 3, "old"))
    _store(db, app.id, _requests(now - HOUR, 3, "new"))
    for table in LOG_TABLES:
        assert set(_where_rows_are(db, table)) == {f"{table.name}_default"}
    before = _counts(db)
    Maintenance(db, SETTINGS, MAINTENANCE_JOBS, clock=lambda: now).run_once()
    assert _counts(db) == before
    for table in LOG_TABLES:
        slices = LOG_SLICES[table.name]
        assert set(_where_rows_are(db, table)) == {slices.name(T0 - DAY), slices.name(T0)}, table.name
        assert slices.name(T0 + 3 * DAY) in _slices(db, table)  # and the days ahead are ready


@contextlib.contextmanager
def _statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements run on `db` inside the block, with their parameters."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)


def _rows_before(db: Database, table: sa.Table, cutoff: float) -> int:
    with db.read() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(table.c.timestamp < cutoff)
        return int(conn.execute(query).scalar_one())


@POSTGRES
def test_retention_drops_the_days_wholly_past_it(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    partitions.create_ahead(db, T0 + DAY)
    _store(db, app.id, _requests(T0 + HOUR, 20, "day0"))
    _store(db, app.id, _requests(T0 + DAY + HOUR, 20, "day1-early"))
    _store(db, app.id, _requests(T0 + DAY + 20 * HOUR, 20, "day1-late"))
    cutoff = T0 + DAY + 12 * HOUR + 30 * 60  # day 0 wholly past, day 1 partly (spans cut on the hour)
    counts = {table.name: _where_rows_are(db, table) for table in LOG_TABLES}
    early = {table.name: _rows_before(db, table, cutoff) for table in LOG_TABLES}
    with _statements(db) as statements:
        deleted = run_retention(db, SETTINGS, cutoff + 15 * DAY)
    dropped = [statement for statement, _ in statements if statement.startswith("DROP TABLE")]
    for table in LOG_TABLES:
        slices = LOG_SLICES[table.name]
        day0, day1 = slices.name(T0), slices.name(T0 + DAY)
        assert f"DROP TABLE {day0}" in dropped, table.name
        assert day0 not in _slices(db, table) and day1 in _slices(db, table)
        after = _where_rows_are(db, table)
        assert _rows_before(db, table, cutoff) == 0
        # Day 1 keeps its rows after the cutoff: the late ones, all of them.
        assert after == {day1: counts[table.name][day1] - (early[table.name] - counts[table.name][day0])}
        assert after[day1] > 0
    assert deleted >= sum(early.values())  # the dropped slices' rows count as deleted
    with db.read() as conn:
        hours = conn.execute(sa.select(sa.func.min(span_hours.c.bucket))).scalar()
    assert hours is not None and hours >= T0 + DAY + 12 * HOUR  # the span counts went with their spans


def _scanned(db: Database, statements: list[tuple[str, Any]], table: sa.Table) -> set[str]:
    """The partitions of `table` that the plans of `statements` (those reading it) read."""
    scanned: set[str] = set()
    with db.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for statement, parameters in statements:
            if f"FROM {table.name}" not in statement:
                continue
            cursor.execute("EXPLAIN " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            scanned |= set(re.findall(rf"\bon ({table.name}_\w+)", plan))
    return scanned


@POSTGRES
def test_the_explorers_queries_read_only_the_slices_of_their_range(api: Any, db: Database) -> None:
    for day in range(-10, 11, 5):
        partitions.create_ahead(db, T0 + day * DAY)  # 20 day slices and more, most outside the range
    for day in range(-8, 9, 2):
        _store(db, api.app_id, _requests(T0 + day * DAY + 12 * HOUR, 30, f"day{day}"))
    with db.write() as conn:
        conn.execute(sa.text("ANALYZE"))
    start, end = T0 - DAY + 6 * HOUR, T0 + 18 * HOUR
    inside = {LOG_SLICES[t.name].name(T0 - DAY) for t in LOG_TABLES} | {
        LOG_SLICES[t.name].name(T0) for t in LOG_TABLES
    }
    reads = {
        request_logs: [
            ("/request-logs", {"limit": "10"}),
            ("/request-logs", {"limit": "10", "response_body": "item", "url": "pay"}),
            ("/request-logs", {"format": "csv"}),
        ],
        app_log_records: [("/app-logs", {"level": "ERROR"}), ("/app-logs", {"message": "order"})],
        span_records: [("/spans", {})],
    }
    for table, calls in reads.items():
        with _statements(db) as statements:
            for route, params in calls:
                response = api.client.get(
                    f"/api/v1/apps/{api.app_id}{route}",
                    params={"start": str(start), "end": str(end), **params},
                )
                assert response.status_code == 200, response.text
                if params == {"limit": "10"}:
                    page = response.json()
                    assert page["items"] and page["next_before"] is not None
                    # The next page, anchored on the last item: the anchor's lookup is bounded too.
                    api.get(route, start=str(start), end=str(end), before=str(page["next_before"]), **params)
        scanned = _scanned(db, statements, table)
        assert scanned, table.name
        assert len(_slices(db, table)) > 20
        # Only the slices of the range: no default, no day outside it.
        assert scanned <= inside, (table.name, scanned - inside)


@POSTGRES
def test_upgrade_keeps_every_row_and_downgrade_restores_plain_tables(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    partitions.create_ahead(db, T0)
    _store(db, app.id, _requests(T0 + HOUR, 20, "in-slice"))
    _store(db, app.id, _requests(T0 + 9 * DAY, 20, "in-default"))  # no slice that far ahead yet

    def rows() -> list[list[tuple[Any, ...]]]:
        with db.read() as conn:
            return [[tuple(r) for r in conn.execute(sa.select(t).order_by(t.c.id))] for t in LOG_TABLES]

    kept = rows()
    assert all(len(table_rows) >= 40 for table_rows in kept)
    config = alembic_config(db)
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0038").down_revision)
    with db.read() as conn:
        assert not any(partitions.is_partitioned(conn, t.name) for t in LOG_TABLES)
        assert (
            conn.execute(sa.text(f"SELECT to_regclass('{LOG_SLICES['request_logs'].name(T0)}')")).scalar()
            is None
        )
    assert rows() == kept
    upgrade(db)
    assert rows() == kept
    for table in LOG_TABLES:
        # The upgrade made a slice for every day with rows: the defaults are empty.
        assert not any(name.endswith("_default") for name in _where_rows_are(db, table)), table.name
    # Ids go on from the same sequences.
    _store(db, app.id, _requests(T0 + 2 * HOUR, 1, "after"))
    assert min(r[0] for r in rows()[0][len(kept[0]) :]) > max(r[0] for r in kept[0])
