"""The plans of the consumer lists' heavy statements (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL),
where 100,000 consumers made the difference: the totals sorted by requests are read as a co-routine on
SQLite (not copied into a temporary table first) and sorted before the join on PostgreSQL (an incremental
sort that looks up only the first counts' consumers); the groups page sums only the consumers that have a
group."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from tallyhub.analytics import consumers, query
from tallyhub.analytics.paging import Page
from tallyhub.analytics.selection import resolve
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.metrics import consumer_hours
from tallyhub.storage import apps as app_store
from tallyhub.storage.caps import Caps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import HOUR

NOW = time.time()


@pytest.fixture
def shop(db: Database) -> tuple[Database, int]:
    """An app with 30 consumers (one in three in a group) over the last 3 hours."""
    app = app_store.create_app(db, "Shop", ("prod",))
    writer = Writer(db, limits=Caps(consumers=100, endpoints=10, envs=2))
    for hour in range(3):
        entries = [
            {
                "consumer": f"c{c:02d}",
                "method": "GET",
                "path": "/a",
                "status_code": 200 if c % 4 else 404,
                "request_count": 1 + c % 5,
                "request_size_sum": 0,
                "response_size_sum": 0,
                "response_times": {"20": 1 + c % 5},
                "request_sizes": {},
                "response_sizes": {},
            }
            for c in range(30)
        ]
        named = [{"identifier": f"c{c:02d}", "name": None, "group": f"g{c % 2}"} for c in range(0, 30, 3)]
        body = {
            "instance_uuid": str(uuid.uuid4()),
            "message_uuid": str(uuid.uuid4()),
            "timestamp": NOW - (3 - hour) * HOUR + 60,
            "requests": entries,
            "validation_errors": [],
            "server_errors": [],
            "consumers": named,
            "resources": None,
        }
        writer.store(app.id, "prod", translate.sync(Sync.model_validate_json(orjson.dumps(body))))
    return db, app.id


def _plans(db: Database, app_id: int, read: Any) -> list[tuple[str, list[str]]]:
    """Each statement `read(conn, resolved, tr)` ran over the last 4 whole hours, with its plan's details."""
    statements: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        with db.read() as conn:
            resolved = resolve(conn, app_id, query.Filters())
            start = NOW - NOW % HOUR - 3 * HOUR
            tr = query.parse({"start": str(start), "end": str(start + 4 * HOUR)}, NOW, apdex_t=500).range
            assert consumer_hours.covers(conn, resolved, tr), "read from the per-consumer hours"
            read(conn, resolved, tr)
            ran = [(s, p) for s, p in statements if s.lstrip().upper().startswith("SELECT")]
            if conn.dialect.name == "sqlite":
                return [
                    (s, [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s, p)]) for s, p in ran
                ]
            return [(s, [r[0].strip() for r in conn.exec_driver_sql("EXPLAIN " + s, p)]) for s, p in ran]
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)


@pytest.mark.parametrize("sort", ["requests", "errors"])
def test_consumers_sorted_by_counts_read_their_totals_before_the_join(
    shop: tuple[Database, int], sort: str
) -> None:
    db, app_id = shop
    page = Page(10, 0, sort, True)
    plans = _plans(db, app_id, lambda c, r, tr: consumers.list_consumers(c, app_id, r, tr, 500, page, False))
    # The first statement over the totals pages the consumers with a count (those without follow, if any).
    plan = next(plan for s, plan in plans if "consumer_totals" in s and "ORDER BY" in s)
    if db.engine.dialect.name == "sqlite":
        assert "CO-ROUTINE consumer_totals" in plan, plan
        assert not any(step.startswith("MATERIALIZE") for step in plan), plan
    else:
        # Sorted by the count alone below the join (at 100k consumers the planner then sorts by identifier
        # incrementally and looks up the first counts' consumers only; on so few rows it may not).
        assert f"Sort Key: consumer_totals.{sort} DESC" in plan, plan


def test_groups_sum_only_the_consumers_in_a_group(shop: tuple[Database, int]) -> None:
    db, app_id = shop
    page = Page(10, 0, "requests", True)
    plans = _plans(db, app_id, lambda c, r, tr: consumers.list_groups(c, app_id, r, tr, page))
    (plan,) = [plan for s, plan in plans if "consumer_totals" in s]
    # The hours are read for the grouped consumers' ids only (a list subquery on the group index).
    if db.engine.dialect.name == "sqlite":
        assert any("LIST SUBQUERY" in step for step in plan), plan
        assert any("ix_consumers_app_id_group_name" in step for step in plan), plan
    else:  # the consumers with a group are read twice: those listed, and those whose hours are summed
        assert sum("group_name IS NOT NULL" in step for step in plan) == 2, plan
