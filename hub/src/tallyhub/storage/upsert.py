"""INSERT … ON CONFLICT for both engines (SQLite and PostgreSQL spell it alike, SQLAlchemy does not)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's own `insert`, which has on_conflict_do_nothing / on_conflict_do_update."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def insert_ignore(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    conflict: Sequence[str],
) -> None:
    """Insert rows, skipping those that collide on `conflict`.

    It tells nothing of what was inserted: rowcount is -1 for executemany on PostgreSQL. Callers
    that need to know use RETURNING on a single row.
    """
    stmt = insert_for(conn, table).on_conflict_do_nothing(index_elements=list(conflict))
    conn.execute(stmt, rows)
