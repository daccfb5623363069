"""Rollup speed on a backlog of unrolled minute rows (issue 14), and the answers staying exact meanwhile.

A backlog of BENCH_ROLLUP_ROWS minute rows (default 1,000,000; the issue's figure is 10,000,000) is
written straight into `metrics` with INSERT ... SELECT, shaped as ingestion leaves it: every minute, the
same 252 keys (four levels, as a busy API's syncs give), none rolled. First the rollup of
BENCH_ROLLUP_BASELINE (a git revision, default today's code path before issue 14's work; "" skips it)
rolls the oldest BENCH_ROLLUP_BASELINE_ROWS of them in a subprocess, and the backlog is set back to
unrolled; then the hub's own rollup (tallyhub.metrics.rollup.run) works through all of it. Meanwhile a
reader sums the env's requests the way the dashboard reads them (hour rows plus unrolled minute rows)
every 20 ms: every read must give the total written. Prints rows/s, its ratio to the target (3 x the
minute rows the ingest target writes: 300 syncs/s of ~258 rows) and to the baseline, and CPU per row:
the bench process's (the rollup, and the reader thread; SQLite runs in it) and on PostgreSQL also the
server's (the backends of both connections, from /proc).

Environment: BENCH_ROLLUP_ROWS, BENCH_ROLLUP_BASELINE, BENCH_ROLLUP_BASELINE_ROWS; BENCH_QUERIES_ENGINES
picks the engines (as bench.queries), PostgreSQL when TALLYHUB_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from tallyhub.metrics import rollup
from tallyhub.metrics.reads import late_minutes
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import (
    HOUR,
    LEVEL_TOTAL,
    MINUTE,
    UNROLLED_FRESH,
    envs,
    metrics,
    rollup_marks,
)

from bench._dataset import Spec
from bench.ingest import baseline_source
from bench.queries import databases

ROWS = int(os.environ.get("BENCH_ROLLUP_ROWS", "1000000"))
BASELINE = os.environ.get("BENCH_ROLLUP_BASELINE", "ee9a5cf")
BASELINE_ROWS = int(os.environ.get("BENCH_ROLLUP_BASELINE_ROWS", "200000"))
READ_EVERY = 0.02  # seconds between the reader's dashboard reads
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
        "m(i) AS (SELECT generate_series(CAST(:first AS integer), CAST(:last AS integer)))"
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
    """The env's requests as the dashboard reads a long range: hour rows plus unrolled minute rows (the
    minutes from the rollup's mark on, and those written later for minutes before it, as reads.py)."""
    total = sa.func.coalesce(sa.func.sum(metrics.c.request_count), 0)
    ours = (metrics.c.env_id == env_id, metrics.c.level == LEVEL_TOTAL)
    hours = sa.select(total).where(*ours, metrics.c.granularity == HOUR)
    fresh = sa.select(total).where(*ours, sa.text(UNROLLED_FRESH))
    late = sa.select(total).where(*late_minutes((env_id,), LEVEL_TOTAL))  # by id, as reads.py
    with db.read() as conn:  # one statement: one snapshot under READ COMMITTED too, as reads.py reads
        parts = hours.scalar_subquery() + fresh.scalar_subquery() + late.scalar_subquery()
        return int(conn.execute(sa.select(parts)).scalar_one())


_BASELINE_RUN = """
import sys, time
from tallyhub.metrics import rollup
from tallyhub.settings import load_settings
from tallyhub.storage.database import Database
db = Database(sys.argv[1])
began, cpu = time.perf_counter(), time.process_time()
rolled = rollup.run(db, load_settings({}), float(sys.argv[2]))
print(rolled, time.perf_counter() - began, time.process_time() - cpu)
"""


def _baseline(url: str, source: Path, until: float) -> tuple[int, float, float]:
    """(rows rolled, seconds, process CPU seconds) of the baseline's rollup of the minutes before `until`."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    out = subprocess.run(
        [sys.executable, "-c", _BASELINE_RUN, url, str(until)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def _unroll(db: Database) -> None:
    """Back to a backlog no rollup has touched: no hour or day rows, every minute row unrolled (the
    baseline marked its rows `rolled`; today's code moves the mark)."""
    with db.write() as conn:
        conn.execute(metrics.delete().where(metrics.c.granularity != MINUTE))
        rolled = sa.and_(metrics.c.granularity == MINUTE, metrics.c.rolled.is_(True))
        conn.execute(metrics.update().where(rolled).values(rolled=False))
        conn.execute(rollup_marks.update().values(minutes_before=0, through_id=0))


def _server_cpu(db: Database) -> float:
    """CPU seconds used so far by the PostgreSQL backends of this database (0 on SQLite)."""
    if db.engine.dialect.name != "postgresql":
        return 0.0
    with db.read() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


class _Reader:
    """Reads the env's total every READ_EVERY seconds in a thread, counting reads and wrong answers."""

    def __init__(self, db: Database, env_id: int, requests: int) -> None:
        self.reads = self.wrong = 0
        self._done = threading.Event()

        def read() -> None:
            while not self._done.wait(READ_EVERY):
                if _total(db, env_id) != requests:
                    self.wrong += 1
                self.reads += 1

        self._thread = threading.Thread(target=read, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def bench(engine: str, url: str) -> bool:
    db = Database(url)
    upgrade(db)
    try:
        app = app_store.create_app(db, "Rollup", ("prod",))
        with db.read() as conn:
            env_id = conn.execute(sa.select(envs.c.id).where(envs.c.app_id == app.id)).scalar_one()
        now = time.time()
        per_minute = len(_keys())
        start = int(now // HOUR) * HOUR - (ROWS // per_minute + 120) * MINUTE
        began = time.perf_counter()
        rows, requests = _load(db, env_id, start)
        print(
            f"{engine:9} backlog {rows:,} minute rows written in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        exact = True
        old_rate = None
        with baseline_source(BASELINE) as source:
            if source is not None:
                reader = _Reader(db, env_id, requests)
                old_rolled, old_seconds, old_cpu = _baseline(
                    url, source, start + BASELINE_ROWS // per_minute * MINUTE
                )
                reader.stop()
                old_rate = old_rolled / old_seconds
                exact &= reader.wrong == 0
                print(
                    f"{engine:9} baseline {BASELINE} rollup {old_rate:,.0f} minute rows/s "
                    f"({old_rolled:,} rows in {old_seconds:.0f} s, its process CPU "
                    f"{old_cpu / old_rolled * 1e6:.1f} us/row)   "
                    f"reads during it {reader.reads}, wrong {reader.wrong}   (load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
                _unroll(db)

        reader = _Reader(db, env_id, requests)
        server, cpu, began = _server_cpu(db), time.process_time(), time.perf_counter()
        rolled = rollup.run(db, load_settings({}), now)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        reader.stop()
        server = _server_cpu(db) - server
        exact &= reader.wrong == 0 and _total(db, env_id) == requests and rolled == rows
        rate = rolled / seconds
        verdict = "met" if rate >= TARGET else "NOT met"
        server_text = f", server CPU {server / rolled * 1e6:.1f} us/row" if server else ""
        versus = f"   x{rate / old_rate:.1f} the baseline's rows/s" if old_rate else ""
        print(
            f"{engine:9} rollup {rate:,.0f} minute rows/s ({rolled:,} rows in {seconds:.1f} s, process CPU "
            f"{cpu / rolled * 1e6:.1f} us/row{server_text})   ratio to target {rate / TARGET:.3f} "
            f"(>= {TARGET:,} rows/s: {verdict}){versus}   reads during it {reader.reads}, "
            f"wrong {reader.wrong}   exact: {'yes' if exact else 'NO'}   (load {os.getloadavg()[0]:.2f})",
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
