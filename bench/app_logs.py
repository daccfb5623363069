"""The application-logs and traces pages at scale: the log records and spans of BENCH_APP_LOGS_REQUESTS
logged requests (default the issue's 5,000,000) over 15 days in 2 envs, 30 % with 2 app-log records
(1 % of records ERROR, 20 loggers), 20 % with 5 spans (40 span names), per engine.

The rows are those tallyhub.ingest.log_records makes from each batch (serialise, then its bulk append),
written in batches of 10,000 requests without the rest of a log file's work. Then it prints, for
tallyhub.analytics.app_logs and .spans as the dashboard and the read API call them (in process, no
HTTP): the application-logs first page unfiltered (24 h, 15 d), with each filter, ten pages deep, and
the traces view (spans by name with examples) over 24 h and 15 d. Each figure: median wall ms and median
process CPU ms of BENCH_REPEAT runs, and the ratio to the unfiltered first page of the same run.

    python -m bench.app_logs   (BENCH=app_logs; BENCH_ENGINES=sqlite,postgres)
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tallyhub.analytics import app_logs, spans
from tallyhub.analytics.app_logs import AppLogFilters
from tallyhub.ingest import batch, log_records
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade

from bench.ingest import ENGINES, scratch_postgres
from bench.request_logs import stored_bytes, timed

REQUESTS = int(os.environ.get("BENCH_APP_LOGS_REQUESTS", "5000000"))
BATCH = 10_000
DAYS = 15
LOGGERS = [f"app.module{k}" for k in range(20)]
NO_FILTERS = AppLogFilters()
SPAN_NAMES = [f"SELECT table{k}" if k % 2 else f"GET service{k}" for k in range(40)]


def _request(rng: random.Random, i: int, at: float) -> batch.RequestLog:
    start_ns = int(at * 1e9)
    logs = None
    if rng.random() < 0.30:
        logs = [
            batch.AppLog(
                at + 0.001 * k,
                LOGGERS[rng.randrange(20)],
                "ERROR" if rng.random() < 0.01 else ("WARNING" if rng.random() < 0.1 else "INFO"),
                f"handled order {i} step {k}" + (" payment declined" if i % 50_000 == 7 else ""),
                None,
                None,
            )
            for k in range(2)
        ]
    traced = rng.random() < 0.20
    span_list = None
    if traced:
        span_list = []
        for k in range(5):
            name = SPAN_NAMES[rng.randrange(40)]
            duration = int(rng.lognormvariate(0, 1.2) * (1 + SPAN_NAMES.index(name) % 7) * 1e6)
            span_list.append(
                batch.Span(f"{k + 1:016x}", None, name, "INTERNAL", start_ns, start_ns + duration, "OK", None)
            )
    return batch.RequestLog(
        uuid=str(uuid.UUID(int=i + 1)),
        timestamp=at,
        method="GET",
        path="/x",
        url=f"https://api.test/x/{i}",
        status_code=200,
        response_time=0.01,
        logs=logs,
        spans=span_list,
        trace_id=f"{i:032x}" if traced else None,
    )


def load(db: Database, env_ids: list[int], now: float) -> tuple[int, int, float]:
    """The records and spans of REQUESTS requests in time order; (records, spans, wall s)."""
    rng = random.Random(5)
    span = DAYS * 86400
    records = spans_stored = 0
    started = time.perf_counter()
    for first in range(0, REQUESTS, BATCH):
        logs = [
            _request(rng, i, now - span + span * i / REQUESTS)
            for i in range(first, min(first + BATCH, REQUESTS))
        ]
        made = log_records.serialise(batch.Batch("log", str(uuid.uuid4()), request_logs=logs))
        records += len(made.logs)
        spans_stored += len(made.spans)
        with db.write() as conn:
            log_records.append(conn, env_ids[(first // BATCH) % len(env_ids)], made, set())
    return records, spans_stored, time.perf_counter() - started


def bench_engine(engine: str, url: str, path: Path | None) -> None:
    db = Database(url)
    try:
        upgrade(db)
        empty = stored_bytes(db, path)
        app = apps.create_app(db, "Bench", ("prod", "dev"))
        with db.read() as conn:
            env_names = apps.app_envs(conn, app.id)
        now = time.time()
        records, stored_spans, wall = load(db, sorted(env_names), now)
        print(f"{engine:8s}  loaded {records:,} log records and {stored_spans:,} spans in {wall:.0f} s")
        if engine == "postgres":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE app_log_records")
                conn.exec_driver_sql("VACUUM ANALYZE span_records")
                conn.exec_driver_sql("VACUUM ANALYZE span_hours")
        else:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        grown = stored_bytes(db, path) - empty
        print(
            f"{engine:8s}  stored bytes per record or span (with indexes): "
            f"{grown / (records + stored_spans):,.0f}"
        )
        measure(engine, db, env_names, now)
    finally:
        db.dispose()


def measure(engine: str, db: Database, env_names: dict[int, str], now: float) -> None:
    day, whole = (now - 86400, now + 1), (now - DAYS * 86400 - 1, now + 1)

    def page(
        filters: AppLogFilters = NO_FILTERS, span: tuple[float, float] = day, deep: int = 0
    ) -> Callable[[], Any]:
        def run() -> Any:
            before = None
            with db.read() as conn:
                for _ in range(deep + 1):
                    found = app_logs.list_app_logs(conn, env_names, *span, 50, before, filters)
                    before = found["next_before"]
            return found

        return run

    def traces(span: tuple[float, float]) -> Callable[[], Any]:
        def run() -> Any:
            with db.read() as conn:
                return spans.slowest_spans(conn, env_names, *span, 50)

        return run

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("app logs, first page (24 h)", page()),
        ("app logs, first page (15 d)", page(span=whole)),
        ("app logs, level=ERROR (24 h)", page(AppLogFilters(level="ERROR"))),
        ("app logs, level=ERROR (15 d)", page(AppLogFilters(level="ERROR"), whole)),
        ("app logs, logger (15 d)", page(AppLogFilters(logger="app.module7"), whole)),
        ("app logs, message common (15 d)", page(AppLogFilters(message="step 1"), whole)),
        ("app logs, message rare (24 h)", page(AppLogFilters(message="payment declined"))),
        ("app logs, message rare (15 d)", page(AppLogFilters(message="payment declined"), whole)),
        ("app logs, 10th page (15 d)", page(span=whole, deep=9)),
        ("traces by name + examples (24 h)", traces(day)),
        ("traces by name + examples (15 d)", traces(whole)),
    ]
    base_wall, _ = timed(cases[0][1])
    for name, run in cases:
        wall, cpu = timed(run)
        print(
            f"{engine:8s}  {name:36s} {wall:8.1f} ms wall {cpu:8.1f} ms CPU  "
            f"(x{wall / base_wall:6.1f} of first page)"
        )


def main() -> None:
    print(
        f"app_logs: the records and spans of {REQUESTS:,} logged requests over {DAYS} days; "
        f"engines {','.join(ENGINES)}"
    )
    print(f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="tallyhub-bench-") as tmp:
        if "sqlite" in ENGINES:
            file = Path(tmp) / "bench.sqlite3"
            bench_engine("sqlite", f"sqlite:///{file}", file)
        if "postgres" in ENGINES:
            with scratch_postgres() as url:
                if url is not None:
                    bench_engine("postgres", url, None)


if __name__ == "__main__":
    main()
