"""storage.bulk.delete_batched sizes each batch from the rate of the one before, so that one batch
takes about DELETE_BATCH_SECONDS whatever a row costs to delete (both engines; the clock is the
test's: each batch "takes" a fixed time per row it deleted)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from tallyhub.storage import bulk

TABLE = sa.Table(
    "delete_batches_test",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("v", sa.Integer),
)


@pytest.fixture
def rows(db: Any) -> Any:
    TABLE.create(db.engine)
    yield
    TABLE.drop(db.engine)


def _batches(db: Any, total: int, seconds_per_row: float) -> list[int]:
    with db.write() as conn:
        conn.execute(TABLE.insert(), [{"id": i + 1, "v": i} for i in range(total)])
    sizes: list[int] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("DELETE FROM delete_batches_test"):
            sizes.append(cursor.rowcount)

    def clock() -> float:  # the time it "took": so many seconds per row deleted so far
        with db.read() as conn:
            left = conn.execute(sa.select(sa.func.count()).select_from(TABLE)).scalar_one()
        return (total - left) * seconds_per_row

    sa.event.listen(db.engine, "after_cursor_execute", record)
    try:
        assert bulk.delete_batched(db, TABLE, TABLE.c.v >= 0, clock) == total
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", record)
    return sizes


def test_slow_rows_are_deleted_in_batches_that_take_the_budget(db: Any, rows: Any) -> None:
    # 2 ms a row: the first batch (100 rows) takes 0.2 s, every one after it 50 rows, 0.1 s (49 where
    # the test clock's float subtraction makes a batch take a hair over 0.1 s).
    sizes = _batches(db, 2900, 0.002)
    assert sizes[0] == 100 and all(49 <= size <= 50 for size in sizes[1:-1]) and sum(sizes) == 2900


def test_fast_rows_are_deleted_in_batches_that_grow_to_the_cap(db: Any, rows: Any) -> None:
    sizes = _batches(db, 30_000, 0.000_001)
    assert sizes == [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 7300]
