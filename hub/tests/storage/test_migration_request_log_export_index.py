"""Migration 0043: on SQLite, the index covering the CSV export's columns of request logs, which the
export then reads instead of the ~4.7 KB rows (PostgreSQL: no change). Its upgrade and downgrade keep
every row as it was; SQLite's plan for an export batch reads the index alone."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tallyhub.analytics import request_logs as reads
from tallyhub.analytics.log_query import LogFilters
from tallyhub.analytics.query import Filters
from tallyhub.analytics.selection import resolve
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import SQLITE_EXPORT_INDEX

from tests.support.request_logs import sample_log, store_logs

T0 = 1_795_651_200.0


def _indexes(db: Any) -> set[str]:
    with db.read() as conn:
        return {i["name"] for i in sa.inspect(conn).get_indexes("request_logs")}


def _rows(db: Any) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM request_logs ORDER BY id")]


def test_upgrade_and_downgrade_keep_every_row(api: Any, db: Any) -> None:
    store_logs(db, api.app_id, "prod", [sample_log(i, T0) for i in range(12)], T0 + 60)
    stored = _rows(db)
    assert len(stored) == 12
    assert (SQLITE_EXPORT_INDEX in _indexes(db)) == db.is_sqlite
    config = alembic_config(db)
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0043").down_revision)
    assert SQLITE_EXPORT_INDEX not in _indexes(db)
    assert _rows(db) == stored
    upgrade(db)
    assert (SQLITE_EXPORT_INDEX in _indexes(db)) == db.is_sqlite
    assert _rows(db) == stored


def _export_plan(db: Any, app_id: int, logs: LogFilters) -> tuple[str, list[Any]]:
    """SQLite's plan for the export's first batch with `logs`, and the exported rows."""
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM request_logs" in statement and "LIMIT" in statement:
            statements.append((statement, parameters))

    with db.read() as conn:
        resolved = resolve(conn, app_id, Filters())
        terms = reads.conditions(conn, resolved, T0 - 60, T0 + 60, None, logs)
    assert terms is not None
    sa.event.listen(db.engine, "before_cursor_execute", keep)
    try:
        rows = [r for batch in reads.iter_export_batches(db, resolved, terms, 100) for r in batch]
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", keep)
    statement, parameters = statements[0]
    with db.read() as conn:
        explained = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = " ".join(str(r[-1]) for r in explained)
    return plan, rows


def test_sqlite_exports_from_the_index_alone(api: Any, db: Any) -> None:
    if not db.is_sqlite:  # PostgreSQL has no such index
        return
    store_logs(db, api.app_id, "prod", [sample_log(i, T0) for i in range(12)], T0 + 60)
    plan, rows = _export_plan(db, api.app_id, LogFilters())
    assert f"COVERING INDEX {SQLITE_EXPORT_INDEX}" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # the index's order is the export's: nothing sorted
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True) and len(rows) == 12
    # The explorer's filters on the export's columns stay in the index too.
    plan, rows = _export_plan(db, api.app_id, LogFilters(url="pay", response_time_min=10))
    assert f"COVERING INDEX {SQLITE_EXPORT_INDEX}" in plan, plan
