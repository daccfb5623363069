"""Bulk appends of many rows inside the caller's transaction, at the driver's speed.

SQLAlchemy's per-row parameter processing dominates a sync's cost (hundreds of metric rows each), so
rows are handed to the driver as tuples: PostgreSQL gets them through COPY, SQLite through executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa


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
