"""The database handle: one engine, tuned per dialect, with a write transaction that never deadlocks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tallyhub.storage.fair_lock import FairLock


class Database:
    """An engine plus `write()` (one serialised transaction) and `read()` (a plain connection)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, **engine_kwargs)
        else:
            engine_kwargs.setdefault("pool_size", 10)
            engine_kwargs.setdefault("max_overflow", 20)
            # No pre-ping: it costs a round trip per transaction (a fifth of a sync's time). A
            # connection that died with the server fails one statement, and SQLAlchemy then discards
            # the whole pool; clients retry a failed sync, and recycling keeps connections fresh.
            engine_kwargs.setdefault("pool_pre_ping", False)
            engine_kwargs.setdefault("pool_recycle", 1800)
            self.engine = sa.create_engine(url, **engine_kwargs)
            sa.event.listen(self.engine, "connect", _without_jit)
        # SQLite has one writer at a time: queue writers of this process on a lock rather than
        # letting them spin on SQLITE_BUSY, in the order they came (storage/fair_lock.py).
        # PostgreSQL handles concurrent writers itself.
        self._write_lock = FairLock() if self.is_sqlite else None

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One transaction that commits on success and rolls back on any exception."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock:
            conn = self.engine.connect().execution_options(sqlite_immediate=True)
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.close()

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _without_jit(dbapi_conn: Any, _record: Any) -> None:
    """Turn PostgreSQL's JIT compilation off for this connection.

    The planner over-estimates the rows of a metrics query (granularity and level are correlated), so
    a 30-day dashboard query that reads 30,000 rows in 50 ms crosses jit_above_cost and spends 150 ms
    compiling. The hub's queries are short: they never gain from JIT. A SET rather than the `options`
    startup parameter, which connection poolers such as PgBouncer refuse.
    """
    with dbapi_conn.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_conn.commit()


def _sqlite_engine(url: str, **engine_kwargs: Any) -> sa.Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False}, **engine_kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front, so a transaction never fails half-way on upgrade.
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
