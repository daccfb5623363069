"""Rollup speed on a backlog of unrolled minute rows (issue 14), and the answers staying exact meanwhile.

A backlog of BENCH_ROLLUP_ROWS minute rows (default 10,000,000) is written straight into `metrics`,
shaped as ingestion leaves it: every minute, the same ROWS_PER_MINUTE keys (four levels, as a busy
API's syncs give), none rolled. The hub's own rollup (tallyhub.metrics.rollup.run) then works through
it while a reader keeps summing the env's requests the way the dashboard reads them (hour rows plus
unrolled minute rows): every read must give the total written. Prints rows/s and its ratio to the
target: 3 x the minute rows the ingest target writes (300 syncs/s of ~258 rows).

Environment: BENCH_ROLLUP_ROWS; BENCH_QUERIES_ENGINES picks the engines (as bench.queries), PostgreSQL
when TALLYHUB_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import threading
import time

import sqlalchemy as sa
from tallyhub.metrics import rollup
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import HOUR, LEVEL_TOTAL, MINUTE, UNROLLED_MINUTES, envs, metrics

from bench._dataset import Spec
from bench.queries import databases

ROWS = int(os.environ.get("BENCH_ROLLUP_ROWS", "10000000"))
ROWS_PER_MINUTE = 258  # what one 200-entry sync writes (BENCH=ingest)
TARGET = 3 * 300 * ROWS_PER_MINUTE  # rows/s: 3 x the ingest target's minute rows
LOAD_MINUTES = 2000  # minutes of backlog per INSERT ... SELECT (516,000 rows)


def _keys() -> list[tuple[int, int, int, int]]:
    """ROWS_PER_MINUTE (level, endpoint, consumer, status) keys: a total, endpoints, consumers, both."""
    keys = [(LEVEL_TOTAL, 0, 0, 200)]
    keys += [(1, e, 0, 200) for e in range(1, 41)]
    keys += [(2, 0, c, 200) for c in range(1, 41)]
    keys += [(3, e, c, 200) for e in range(1, 20) for c in range(1, 10)][: ROWS_PER_MINUTE - len(keys)]
    return keys


def _load(db: Database, env_id: int, start: int) -> tuple[int, int]:
    """Write the backlog with INSERT ... SELECT (minutes x keys generated in SQL, a chunk of minutes per
    transaction): 10 M rows in minutes, not the half hour that building them in Python took.

    Returns (rows, requests counted by its LEVEL_TOTAL rows). Response-time bins vary with the minute
    and the key, so hour and day rows merge several bins.
    """
    keys = _keys()
    minutes = ROWS // len(keys)
    postgres = db.engine.dialect.name == "postgresql"
    key_rows = ", ".join(f"({i}, {level}, {e}, {c}, {s})" for i, (level, e, c, s) in enumerate(keys))
    cast = "::text" if postgres else ""
    series = (
        "m(i) AS (SELECT generate_series(:first, :last))"
        if postgres
        else "m(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM m WHERE i < :last)"
    )
    statement = sa.text(
        f"""
        WITH RECURSIVE {series}, k(n, level, e, c, s) AS (VALUES {key_rows})
        INSERT INTO metrics (env_id, granularity, bucket, level, endpoint_id, consumer_id, status_code,
            request_count, request_size_sum, response_size_sum, response_times, request_sizes,
            response_sizes, rolled)
        SELECT :env, {MINUTE}, :start + m.i * {MINUTE}, k.level, k.e, k.c, k.s, 5, 500, 1000,
            '{{"' || ((m.i % 5) * 10){cast} || '"\\:3,"' || (50 + ((m.i + k.n) % 20) * 10){cast} || '"\\:2}}',
            '{{"0"\\:5}}', '{{"0"\\:5}}', false
        FROM m CROSS JOIN k
        ORDER BY m.i, k.n
        """
    )
    for first in range(0, minutes, LOAD_MINUTES):
        last = min(first + LOAD_MINUTES, minutes) - 1
        with db.write() as conn:
            conn.execute(statement, {"env": env_id, "start": start, "first": first, "last": last})
    return minutes * len(keys), minutes * 5


def _total(db: Database, env_id: int) -> int:
    """The env's requests as the dashboard reads a long range: hour rows plus unrolled minute rows."""
    hours = sa.select(sa.func.coalesce(sa.func.sum(metrics.c.request_count), 0)).where(
        metrics.c.env_id == env_id, metrics.c.granularity == HOUR, metrics.c.level == LEVEL_TOTAL
    )
    minutes = sa.select(sa.func.coalesce(sa.func.sum(metrics.c.request_count), 0)).where(
        metrics.c.env_id == env_id, metrics.c.level == LEVEL_TOTAL, sa.text(UNROLLED_MINUTES)
    )
    with db.read() as conn:  # one statement: one snapshot under READ COMMITTED too, as reads.py reads
        return int(conn.execute(sa.select(hours.scalar_subquery() + minutes.scalar_subquery())).scalar_one())


def bench(engine: str, url: str) -> bool:
    db = Database(url)
    upgrade(db)
    try:
        app = app_store.create_app(db, "Rollup", ("prod",))
        with db.read() as conn:
            env_id = conn.execute(sa.select(envs.c.id).where(envs.c.app_id == app.id)).scalar_one()
        now = time.time()
        start = int(now // HOUR) * HOUR - (ROWS // len(_keys()) + 120) * MINUTE
        began = time.perf_counter()
        rows, requests = _load(db, env_id, start)
        print(
            f"{engine:9} backlog {rows:,} minute rows written in {time.perf_counter() - began:.0f} s",
            flush=True,
        )

        reads, wrong = [0], [0]
        done = threading.Event()

        def reader() -> None:
            while not done.is_set():
                if _total(db, env_id) != requests:
                    wrong[0] += 1
                reads[0] += 1

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        cpu, began = time.process_time(), time.perf_counter()
        rolled = rollup.run(db, load_settings({}), now)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        done.set()
        thread.join()
        exact = wrong[0] == 0 and _total(db, env_id) == requests and rolled == rows
        rate = rolled / seconds
        verdict = "met" if rate >= TARGET else "NOT met"
        print(
            f"{engine:9} rollup {rate:,.0f} minute rows/s ({rolled:,} rows in {seconds:.0f} s, process CPU "
            f"{cpu / rolled * 1e6:.0f} us/row, both threads)   ratio to target {rate / TARGET:.3f} "
            f"(>= {TARGET:,} rows/s: {verdict})   reads during it {reads[0]}, wrong {wrong[0]}   "
            f"exact: {'yes' if exact else 'NO'}   (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
        return exact
    finally:
        db.dispose()


def main() -> int:
    ok = True
    for engine, url in databases(Spec(requests=ROWS)):  # the spec only names a kept database
        ok &= bench(engine, url)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
