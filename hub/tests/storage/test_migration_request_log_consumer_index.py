"""Migration 0040: the (env_id, consumer_id, timestamp) index on request logs, which the explorer's
consumer filter reads its page from (both engines for the migration; SQLite's plan for the page)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tallyhub.analytics import request_logs as reads
from tallyhub.analytics.query import Filters
from tallyhub.analytics.selection import resolve
from tallyhub.storage.migrate import alembic_config, upgrade

from tests.support.request_logs import sample_log, store_logs

INDEX = "ix_request_logs_env_id_consumer_id_timestamp"
T0 = 1_795_651_200.0


def _indexes(db: Any) -> set[str]:
    with db.read() as conn:
        return {i["name"] for i in sa.inspect(conn).get_indexes("request_logs")}


def test_the_migration_adds_the_index_and_its_downgrade_removes_it(api: Any, db: Any) -> None:
    store_logs(db, api.app_id, "prod", [sample_log(i, T0) for i in range(5)], T0 + 60)
    assert INDEX in _indexes(db)
    config = alembic_config(db)
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0040").down_revision)
    assert INDEX not in _indexes(db)
    upgrade(db)
    assert INDEX in _indexes(db)
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM request_logs")).scalar_one() == 5


def test_a_page_of_one_consumer_reads_the_consumer_index(api: Any, db: Any) -> None:
    if not db.is_sqlite:  # PostgreSQL's planner picks by statistics, which 10 rows do not make
        return
    logs = [sample_log(i, T0) for i in range(10)]
    for i, log in enumerate(logs):
        log.consumer = f"consumer-{i % 2}"
    store_logs(db, api.app_id, "prod", logs, T0 + 60)
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM request_logs" in statement and "ORDER BY request_logs.timestamp DESC" in statement:
            statements.append((statement, parameters))

    with db.read() as conn:
        resolved = resolve(conn, api.app_id, Filters(consumer="consumer-1"))
        sa.event.listen(conn, "before_cursor_execute", keep)
        page = reads.list_request_logs(conn, resolved, T0 - 60, T0 + 60, 50, None)
        sa.event.remove(conn, "before_cursor_execute", keep)
        assert {item["consumer"] for item in page["items"]} == {"consumer-1"}
        assert len(page["items"]) == 5
        assert statements  # the page's query, which the plan is asked for
        statement, parameters = statements[0]
        explained = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = " ".join(str(row[-1]) for row in explained)
    assert INDEX in plan, plan


def test_on_an_analyzed_sqlite_database_the_index_gets_its_statistics(api: Any, db: Any) -> None:
    if not db.is_sqlite:  # PostgreSQL's autovacuum analyzes a table by itself
        return
    store_logs(db, api.app_id, "prod", [sample_log(i, T0) for i in range(5)], T0 + 60)
    config = alembic_config(db)
    command.downgrade(config, ScriptDirectory.from_config(config).get_revision("0040").down_revision)
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    upgrade(db)
    with db.read() as conn:
        analyzed = {
            r[0] for r in conn.exec_driver_sql("SELECT idx FROM sqlite_stat1 WHERE tbl = 'request_logs'")
        }
    assert INDEX in analyzed
