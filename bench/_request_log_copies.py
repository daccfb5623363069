"""The request-log benchmark's fast load (BENCH_REQUEST_LOGS_LOAD=replicate): a base set of rows as
tallyhub.ingest.request_logs.rows makes them, copied by the database into the whole data set.

Loading 5,000,000 logs through Python costs ~1 ms of CPU each (building the logs, their details JSON,
the driver's parameters) on top of the text indexes' work; here Python makes `base` rows once and each
INSERT ... SELECT writes `copies` rows per base row, in time order (ids follow time, as ingestion
leaves them, which retention's batched delete relies on). Copy r of a base row is r steps of the data
set's spacing later, with r in the first 8 hex digits of its uuid and trace id (all unique). The text
indexes are built once at the end (PostgreSQL: the trigram GIN indexes dropped and created again;
SQLite: the FTS5 insert trigger dropped, the index rebuilt, the trigger restored), which is the
dominant cost either way; the load time printed includes it.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from tallyhub.storage.database import Database
from tallyhub.storage.tables import request_logs
from tallyhub.storage.text_search import FTS_TABLE, POSTGRES_INDEXES

BASE_TABLE, COPIES_TABLE = "bench_base_logs", "bench_copies"
BASE_PER_STATEMENT = 1000  # base rows per INSERT ... SELECT (times `copies` rows written)
_COLUMNS = [c.name for c in request_logs.columns if c.name != "id"]
_PREFIXED = ("uuid", "trace_id")  # the copy number replaces their first 8 characters


def copy_rows(db: Database, base_rows: list[dict[str, object]], copies: int, step: float) -> None:
    """Insert `copies` copies of each of `base_rows` (in time order, `step` seconds apart) into
    request_logs, then build its text index."""
    with db.engine.connect() as conn:
        deferred = _drop_text_index(conn)
        conn.commit()
        base = sa.Table(
            BASE_TABLE,
            sa.MetaData(),
            *(
                sa.Column(c.name, c.type, primary_key=c.primary_key, autoincrement=False)
                for c in request_logs.columns
            ),
        )
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {BASE_TABLE}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {COPIES_TABLE}")
        conn.execute(sa.schema.CreateTable(base))
        conn.exec_driver_sql(f"CREATE TABLE {COPIES_TABLE} (r INTEGER PRIMARY KEY, prefix VARCHAR(8))")
        conn.execute(base.insert(), [{"id": j, **row} for j, row in enumerate(base_rows)])
        conn.execute(
            sa.text(f"INSERT INTO {COPIES_TABLE} (r, prefix) VALUES (:r, :prefix)"),
            [{"r": r, "prefix": f"{r:08x}"} for r in range(copies)],
        )
        conn.commit()
        picked = ", ".join(
            f"x.prefix || substr(b.{c}, 9)"
            if c in _PREFIXED
            else f"b.{c} + x.r * :step"
            if c == "timestamp"
            else f"b.{c}"
            for c in _COLUMNS
        )
        statement = sa.text(
            f"INSERT INTO request_logs ({', '.join(_COLUMNS)}) SELECT {picked} "
            f"FROM {BASE_TABLE} b CROSS JOIN {COPIES_TABLE} x WHERE b.id >= :first AND b.id < :last "
            "ORDER BY b.id, x.r"
        )
        began = time.perf_counter()
        for first in range(0, len(base_rows), BASE_PER_STATEMENT):
            conn.execute(statement, {"step": step, "first": first, "last": first + BASE_PER_STATEMENT})
            conn.commit()
            if first // BASE_PER_STATEMENT % 10 == 9:  # a long load says how far it is
                done = (first + BASE_PER_STATEMENT) * copies
                print(f"  ... {done:,} rows copied in {time.perf_counter() - began:.0f} s", flush=True)
        conn.exec_driver_sql(f"DROP TABLE {BASE_TABLE}")
        conn.exec_driver_sql(f"DROP TABLE {COPIES_TABLE}")
        conn.commit()
        began = time.perf_counter()
        _restore_text_index(conn, deferred)
        conn.commit()
        print(f"  ... text index built in {time.perf_counter() - began:.0f} s", flush=True)


def _drop_text_index(conn: sa.Connection) -> list[str]:
    """Drop what maintains the bodies' text index row by row; the statements that make it again."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            (f"{FTS_TABLE}_insert",),
        ).all()
        for name, _ in rows:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        return [sql for _, sql in rows]
    rows = conn.execute(
        sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN :names").bindparams(
            sa.bindparam("names", expanding=True)
        ),
        {"names": [name for name in POSTGRES_INDEXES if name.startswith("ix_request_logs_")]},
    ).all()
    for name, _ in rows:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    return [sql for _, sql in rows]


def _restore_text_index(conn: sa.Connection, statements: list[str]) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    else:
        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
    for sql in statements:
        # pg_indexes gives a partitioned table's index as `ON ONLY`, which makes the parent's index
        # alone, invalid until every slice has one; without ONLY it is made on the slices too.
        conn.exec_driver_sql(sql.replace(" ON ONLY ", " ON ", 1))
