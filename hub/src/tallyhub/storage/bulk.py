"""Bulk writes: appends of many rows at the driver's speed, and deletes in bounded batches.

SQLAlchemy's per-row parameter processing dominates a sync's cost (hundreds of metric rows each), so
rows are handed to the driver as tuples: PostgreSQL gets them through COPY, SQLite through executemany.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.storage.database import Database


def append(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert `rows` (tuples in `columns` order) into `table`, in the transaction `conn` is in."""
    if not rows:
        return
    names = ", ".join(columns)
    driver_conn: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with driver_conn.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    cursor = driver_conn.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
    finally:
        cursor.close()


def add_into(
    conn: sa.Connection,
    table: sa.Table,
    keys: Sequence[str],
    counts: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Insert `rows` (tuples of `keys` then `counts`), adding the counts into a row whose key exists.

    Rows should come sorted by key: concurrent writers on PostgreSQL then lock shared keys in one order.
    """
    if not rows:
        return
    names = ", ".join((*keys, *counts))
    added = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in counts)
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    marks = ", ".join([mark] * (len(keys) + len(counts)))
    sql = (
        f"INSERT INTO {table.name} ({names}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}"
    )
    driver_conn: Any = conn.connection.driver_connection
    cursor = driver_conn.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


DELETE_BATCH_ROWS = 10_000  # at most, per transaction
DELETE_FIRST_BATCH_ROWS = 100
# What one batch should take: about the longest a writer waits behind it (SQLite's write lock hands
# over in arrival order, storage/fair_lock.py). A tenth of the second that ingestion may be held up:
# on a loaded machine a batch paced from the one before can take several times its budget.
DELETE_BATCH_SECONDS = 0.1


def delete_batched(
    db: Database,
    table: sa.Table,
    condition: sa.ColumnElement[bool],
    clock: Callable[[], float] = time.perf_counter,
) -> int:
    """Delete the rows matching `condition` in batches, one transaction each, so writers are not held
    up for long; returns how many were deleted.

    A batch is sized from the rate of the one before to take about DELETE_BATCH_SECONDS (at most
    twice the one before, DELETE_BATCH_ROWS in all): a row costs very different times to delete, a
    metric row little, a request log with text-indexed bodies on SQLite a few milliseconds (its FTS5
    entries are deleted with it), and SQLite's single writer waits for the whole batch.
    """
    deleted, size = 0, DELETE_FIRST_BATCH_ROWS
    while True:
        began = clock()
        with db.write() as conn:
            ids = sa.select(table.c.id).where(condition).limit(size)
            # `condition` again on the delete itself: on a partitioned table (storage/partitions.py) it
            # keeps the delete to the partitions it can match instead of looking up ids in every one.
            count = conn.execute(table.delete().where(condition, table.c.id.in_(ids))).rowcount
        took = clock() - began
        deleted += count
        if count < size:
            return deleted
        paced = int(size * DELETE_BATCH_SECONDS / took) if took > 0 else DELETE_BATCH_ROWS
        size = max(1, min(paced, 2 * size, DELETE_BATCH_ROWS))
