"""The request-log explorer at scale: BENCH_REQUEST_LOGS_ROWS logged requests (default the issue's
5,000,000) over 15 days, 200 endpoints, 1,000 consumers, ~1 KB bodies, 5 % with exceptions, 30 % with
app logs, 20 % with 5-span traces, per engine.

BENCH_REQUEST_LOGS_LOAD=ingest stores every batch through the ingestion code (Writer.store, as a log
file's batch of BENCH_REQUEST_LOGS_BATCH requests); that runs at ~1,000 requests/s here, so the default
(direct) stores the first batch that way (creating the endpoints and consumers) and inserts the rest
with the rows tallyhub.ingest.request_logs.rows makes (the same rows, without the per-file work: the
idempotency receipt, dimension upserts, budget); BENCH_REQUEST_LOGS_LOAD=replicate makes
BENCH_REQUEST_LOGS_BASE rows so and has the database copy them into the whole data set
(bench/_request_log_copies.py; 5,000,000 in ~18 min on PostgreSQL here, where the direct load takes
about an hour). The output says which. BENCH_REQUEST_LOGS_KEEP=<folder> keeps the loaded data set
(the SQLite file there, the PostgreSQL database tallyhub_bench_request_logs_<rows>) and later runs
measure it again without loading; they skip the retention figure, which deletes a day, unless
BENCH_REQUEST_LOGS_RETENTION=1. Then it
prints, for tallyhub.analytics.request_logs as the dashboard and the read API call it (in process, no
HTTP): the explorer's first page unfiltered and with each filter alone and combined (target < 300 ms),
a body-substring search over 24 h and over 15 days (< 1 s), a detail (< 100 ms), CSV export rows/s
(>= 50,000/s) with the process's peak RSS growth (< 100 MB), the stored bytes per logged request, and
retention deleting the oldest day while a thread ingests (no store held up for more than 1 s).
Each figure: median wall ms and median process CPU ms of BENCH_REPEAT runs (CPU hardly depends on the
load of a shared machine; wall does), and the ratio to the unfiltered first page of the same run.

    python -m bench.request_logs   (BENCH=request_logs; BENCH_ENGINES=sqlite,postgres)
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tallyhub.analytics import csv_export, request_logs
from tallyhub.analytics.log_query import LogFilters
from tallyhub.analytics.query import Filters
from tallyhub.analytics.selection import resolve
from tallyhub.ingest import batch
from tallyhub.ingest import request_logs as ingest_rows
from tallyhub.ingest import retention as ingest_retention
from tallyhub.ingest.writer import Writer
from tallyhub.settings import load_settings
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.dimensions import natural_endpoint
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import consumers, endpoints
from tallyhub.storage.tables import request_logs as request_logs_table

from bench._request_log_copies import copy_rows
from bench.ingest import ENGINES, PG_ADMIN_URL, scratch_postgres

ROWS = int(os.environ.get("BENCH_REQUEST_LOGS_ROWS", "5000000"))
BATCH = int(os.environ.get("BENCH_REQUEST_LOGS_BATCH", "2000"))
LOAD = os.environ.get("BENCH_REQUEST_LOGS_LOAD", "direct")
BASE = int(os.environ.get("BENCH_REQUEST_LOGS_BASE", "100000"))
KEEP = os.environ.get("BENCH_REQUEST_LOGS_KEEP")
RETENTION = os.environ.get("BENCH_REQUEST_LOGS_RETENTION") == "1"
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
DAYS, ENDPOINTS, CONSUMERS = 15, 200, 1000
NO_FILTERS, NO_LOG_FILTERS = Filters(), LogFilters()
RARE = "zebracorn"  # in 1 request body of 10,000: what a person searches for
WORDS = ["alpha", "beta", "gamma", "delta", "order", "item"]
WORDS += ["price", "quantity", "customer", "status", "shipped", "pending"]


_TEXTS = [" ".join(random.Random(n).choices(WORDS, k=140)) for n in range(64)]


def _body(i: int) -> str:
    note = f"{RARE}-{i}" if i % 10_000 == 7 else "plain"
    text = _TEXTS[i % len(_TEXTS)]
    return base64.b64encode(f'{{"id": {i}, "note": "{note}", "text": "{text}"}}'.encode()[:1024]).decode()


def _log(rng: random.Random, i: int, at: float) -> batch.RequestLog:
    endpoint = i % ENDPOINTS
    method = "POST" if endpoint % 4 == 0 else "GET"
    start_ns = int(at * 1e9)
    failed = rng.random() < 0.05
    traced = rng.random() < 0.20
    return batch.RequestLog(
        uuid=str(uuid.UUID(int=i + 1)),
        timestamp=at,
        method=method,
        path=f"/api/r{endpoint}/{{id}}",
        url=f"https://api.test/api/r{endpoint}/{i}?page={i % 7}",
        status_code=500 if failed else (404 if rng.random() < 0.05 else 200),
        response_time=rng.uniform(0.002, 0.8),
        consumer=f"consumer-{rng.randrange(CONSUMERS)}",
        request_size=1024,
        request_headers=[("content-type", "application/json"), ("user-agent", "bench/1.0")],
        request_body=_body(i) if method == "POST" else None,
        response_size=rng.randrange(200, 4000),
        response_headers=[("content-type", "application/json")],
        response_body=_body(i + 1),
        exception=batch.ExceptionInfo("ValueError", "bad", "Traceback ...\nValueError: bad", None)
        if failed
        else None,
        client_ip=f"10.1.{rng.randrange(4)}.{rng.randrange(250)}",
        logs=[batch.AppLog(at + 0.001, "app", "INFO", f"handled {i}", None, None)] * 2
        if rng.random() < 0.30
        else None,
        spans=[
            batch.Span(
                f"{k + 1:016x}",
                None if k == 0 else "0000000000000001",
                f"span {k}",
                "INTERNAL",
                start_ns + k * 1000,
                start_ns + (k + 1) * 100_000,
                "OK",
                {"k": k},
            )
            for k in range(5)
        ]
        if traced
        else None,
        trace_id=f"{i:032x}" if traced else None,
    )


def load(db: Database, app_id: int, now: float) -> tuple[float, float]:
    """Store ROWS logs in time order over DAYS days (LOAD: ingest, direct or replicate); (wall s, CPU s)."""
    if LOAD == "replicate":
        return _load_replicated(db, app_id, now)
    rng = random.Random(12)
    writer = Writer(db, clock=lambda: now)
    span = DAYS * 86400
    started, cpu = time.perf_counter(), time.process_time()
    ids: tuple[int, dict[Any, int], dict[str, int]] | None = None
    for first in range(0, ROWS, BATCH):
        logs = [_log(rng, i, now - span + span * i / ROWS) for i in range(first, min(first + BATCH, ROWS))]
        if LOAD == "ingest" or ids is None:
            if ids is None:
                _name_every_dimension(logs)
            writer.store(app_id, "prod", batch.Batch("log", str(uuid.uuid4()), request_logs=logs))
            if ids is None:
                ids = _dimension_ids(db, app_id)
            continue
        env_id, endpoint_ids, consumer_ids = ids
        with db.write() as conn:
            conn.execute(
                request_logs_table.insert(), ingest_rows.rows(env_id, logs, endpoint_ids, consumer_ids)
            )
    return time.perf_counter() - started, time.process_time() - cpu


def _name_every_dimension(logs: list[batch.RequestLog]) -> None:
    """Every endpoint and consumer named once in `logs`, so that the writer creates them all."""
    for k, log in enumerate(logs[: max(ENDPOINTS, CONSUMERS)]):
        log.path, log.consumer = f"/api/r{k % ENDPOINTS}/{{id}}", f"consumer-{k % CONSUMERS}"
        log.method = "POST" if k % ENDPOINTS % 4 == 0 else "GET"


def _load_replicated(db: Database, app_id: int, now: float) -> tuple[float, float]:
    """BASE logs as ingestion's rows, each copied ROWS // BASE times by the database (see
    bench._request_log_copies); the endpoints and consumers made by one batch through Writer.store,
    whose logs are then deleted."""
    copies = max(1, ROWS // BASE)
    base = ROWS // copies
    rng = random.Random(12)
    started, cpu = time.perf_counter(), time.process_time()
    setup = [_log(rng, ROWS + k, now) for k in range(max(ENDPOINTS, CONSUMERS))]
    _name_every_dimension(setup)
    Writer(db, clock=lambda: now).store(
        app_id, "prod", batch.Batch("log", str(uuid.uuid4()), request_logs=setup)
    )
    env_id, endpoint_ids, consumer_ids = _dimension_ids(db, app_id)
    with db.write() as conn:
        conn.execute(request_logs_table.delete())
    step = DAYS * 86400 / (base * copies)
    logs = [_log(rng, j, now - DAYS * 86400 + step * j * copies) for j in range(base)]
    copy_rows(db, ingest_rows.rows(env_id, logs, endpoint_ids, consumer_ids), copies, step)
    return time.perf_counter() - started, time.process_time() - cpu


def _dimension_ids(db: Database, app_id: int) -> tuple[int, dict[Any, int], dict[str, int]]:
    with db.read() as conn:
        env_id = apps.env_id_for(conn, app_id, "prod")
        assert env_id is not None
        endpoint_ids = {
            natural_endpoint(r.method, r.path): r.id
            for r in conn.execute(
                sa.select(endpoints.c.id, endpoints.c.method, endpoints.c.path).where(
                    endpoints.c.env_id == env_id
                )
            )
        }
        consumer_ids = {
            r.identifier: r.id
            for r in conn.execute(
                sa.select(consumers.c.id, consumers.c.identifier).where(consumers.c.app_id == app_id)
            )
        }
    assert len(endpoint_ids) >= ENDPOINTS and len(consumer_ids) >= CONSUMERS, (
        len(endpoint_ids),
        len(consumer_ids),
    )
    return env_id, endpoint_ids, consumer_ids


def timed(run: Callable[[], Any]) -> tuple[float, float]:
    """Median (wall ms, CPU ms) of REPEAT runs after one warm-up."""
    run()
    walls, cpus = [], []
    for _ in range(REPEAT):
        w, c = time.perf_counter(), time.process_time()
        run()
        walls.append((time.perf_counter() - w) * 1000)
        cpus.append((time.process_time() - c) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def stored_bytes(db: Database, path: Path | None) -> int:
    with db.engine.begin() as conn:
        if path is not None:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return path.stat().st_size
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())


def bench_engine(engine: str, url: str, path: Path | None, kept: Path | None = None) -> None:
    """Load (or, with `kept` naming a previous run's record, reuse) the data set, then measure it."""
    db = Database(url)
    try:
        if kept is not None and kept.exists():
            record = json.loads(kept.read_text())
            app_id, now, per_row = record["app_id"], record["now"], record["bytes_per_row"]
            began = time.perf_counter()
            upgrade(db)  # this branch's migrations, if the kept data set predates any
            with db.read() as conn:  # fewer after a retention figure deleted a day of them
                stored = conn.execute(sa.select(sa.func.count()).select_from(request_logs_table)).scalar_one()
            print(
                f"{engine:8s}  reused the {ROWS:,} logged requests loaded {record['loaded']}, "
                f"{stored:,} stored now (migrations to head in {time.perf_counter() - began:.0f} s)"
            )
        else:
            app_id, now, per_row = _load_fresh(engine, db, path)
            if kept is not None:
                loaded = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                kept.write_text(
                    json.dumps({"app_id": app_id, "now": now, "bytes_per_row": per_row, "loaded": loaded})
                )
        print(f"{engine:8s}  stored bytes per logged request: {per_row:,.0f} (whole database growth / rows)")
        measure(engine, db, app_id, now)
        if kept is None or RETENTION:
            retention(engine, db, app_id, now)
    finally:
        db.dispose()


def _load_fresh(engine: str, db: Database, path: Path | None) -> tuple[int, float, float]:
    upgrade(db)
    empty = stored_bytes(db, path)
    app = apps.create_app(db, "Bench", ("prod",))
    now = time.time()
    wall, cpu = load(db, app.id, now)
    how = {
        "ingest": "through Writer.store",
        "direct": "directly, as ingest.request_logs.rows makes them",
        "replicate": f"as copies of {ROWS // max(1, ROWS // BASE):,} rows that ingest.request_logs.rows made",
    }[LOAD]
    print(
        f"{engine:8s}  loaded {ROWS:,} logged requests {how} in {wall:.0f} s "
        f"({ROWS / wall:,.0f}/s wall, {cpu / ROWS * 1e6:.0f} us bench-process CPU each)"
    )
    if engine == "postgres":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE request_logs")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return app.id, now, (stored_bytes(db, path) - empty) / ROWS


def measure(engine: str, db: Database, app_id: int, now: float) -> None:
    day, whole = (now - 86400, now + 1), (now - DAYS * 86400 - 1, now + 1)

    def page(
        filters: Filters = NO_FILTERS, logs: LogFilters = NO_LOG_FILTERS, span: tuple[float, float] = day
    ) -> Callable[[], Any]:
        def run() -> Any:
            with db.read() as conn:
                resolved = resolve(conn, app_id, filters)
                if filters.method is not None and filters.path is None:
                    # As the dashboard and the API do: the logged method, not the endpoints'.
                    resolved = dataclasses.replace(resolved, endpoint_ids=None)
                return request_logs.list_request_logs(
                    conn, resolved, *span, 50, None, method=filters.method, logs=logs
                )

        return run

    with db.read() as conn:
        sample = conn.exec_driver_sql(
            "SELECT id, trace_id FROM request_logs WHERE trace_id IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).one()
    cases: list[tuple[str, Callable[[], Any], float]] = [
        ("first page, no filter (24 h)", page(), 300),
        ("first page, no filter (15 d)", page(span=whole), 300),
        ("env=prod", page(Filters(env="prod")), 300),
        ("consumer", page(Filters(consumer="consumer-17")), 300),
        ("group (none matches)", page(Filters(group="nobody")), 300),
        ("method=POST", page(Filters(method="POST")), 300),
        ("endpoint", page(Filters(path="/api/r17/{id}")), 300),
        ("status=5xx", page(Filters(status="5xx")), 300),
        ("client_ip", page(logs=LogFilters(client_ip="10.1.2.33")), 300),
        ("url substring", page(logs=LogFilters(url="r17/")), 300),
        ("request size range", page(logs=LogFilters(request_size_min=1000, request_size_max=2000)), 300),
        ("response size range", page(logs=LogFilters(response_size_min=3900)), 300),
        ("response time range", page(logs=LogFilters(response_time_min=700, response_time_max=800)), 300),
        ("has_exception", page(logs=LogFilters(has_exception=True)), 300),
        ("trace_id (15 d)", page(logs=LogFilters(trace_id=sample.trace_id), span=whole), 300),
        (
            "combined: POST 5xx consumer url",
            page(Filters(method="POST", status="5xx", consumer="consumer-3"), LogFilters(url="api")),
            300,
        ),
        ("body search, 24 h (rare word)", page(logs=LogFilters(request_body=RARE)), 1000),
        ("body search, 15 d (rare word)", page(logs=LogFilters(request_body=RARE), span=whole), 1000),
        (
            "body search, 15 d (common word)",
            page(logs=LogFilters(response_body="customer"), span=whole),
            1000,
        ),
    ]

    def detail() -> Any:
        with db.read() as conn:
            return request_logs.get_request_log(conn, apps.app_envs(conn, app_id), sample.id)

    cases.append(("detail", detail, 100))
    base_wall, _ = timed(cases[0][1])
    for name, run, target in cases:
        wall, cpu = timed(run)
        verdict = "ok" if wall < target else "OVER"
        print(
            f"{engine:8s}  {name:36s} {wall:8.1f} ms wall {cpu:8.1f} ms CPU  "
            f"(x{wall / base_wall:5.1f} of unfiltered; target < {target} ms: {verdict})"
        )
    export(engine, db, app_id, whole)


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _server_cpu(db: Database) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving this database (the bench's own: the
    database is the bench's), read from /proc (the server runs on this machine); {} on SQLite."""
    if db.is_sqlite:
        return {}
    with db.read() as conn:
        pids = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).scalars()
        out = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # another machine's server, or the backend has gone
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return out


def export(engine: str, db: Database, app_id: int, span: tuple[float, float]) -> None:
    """The CSV download as the dashboard and the read API make it (csv_export.request_logs_csv_bytes),
    MAX_ROWS rows: rows/s wall and per CPU second of the bench process and, on PostgreSQL, of the
    server's backends, the process's peak RSS growth, and the load average at the end."""
    with db.read() as conn:
        resolved = resolve(conn, app_id, Filters())
        terms = request_logs.conditions(conn, resolved, *span, None, LogFilters())
    assert terms is not None
    before = _rss_kb()
    peak = before
    server = _server_cpu(db)
    wall, cpu = time.perf_counter(), time.process_time()
    rows = size = 0
    for chunk in csv_export.request_logs_csv_bytes(db, resolved, terms):
        size += len(chunk)
        rows += chunk.count(b"\n")
        peak = max(peak, _rss_kb())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = _server_cpu(db)
    server_cpu = sum(t - server.get(pid, 0.0) for pid, t in after.items())
    rows -= 1  # the header
    growth_mb = (peak - before) / 1024
    verdict = "ok" if rows / wall >= 50_000 else "OVER"
    on_server = f", {rows / server_cpu:,.0f} per server CPU second" if server_cpu > 0 else ""
    print(
        f"{engine:8s}  CSV export {rows:,} rows ({size / 1e6:,.0f} MB): {rows / wall:,.0f} rows/s wall, "
        f"{rows / cpu:,.0f} rows/s per CPU second{on_server} (target >= 50,000/s: {verdict}); "
        f"peak RSS growth {growth_mb:.1f} MB (target < 100 MB: {'ok' if growth_mb < 100 else 'OVER'}); "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def retention(engine: str, db: Database, app_id: int, now: float) -> None:
    """Request-log retention deleting the oldest day (ingest.retention.run, as the maintenance job runs
    it) while a thread stores a log file of 50 requests every 50 ms through Writer.store; prints how
    long the longest store took during the delete against the median store before it (target: no
    store held up for more than a second)."""
    settings = load_settings({"retention_request_logs_days": DAYS - 1})
    writer = Writer(db, clock=time.time)
    rng = random.Random(99)
    latencies: list[tuple[float, float, float]] = []  # (finished at, seconds, CPU seconds of the thread)
    stop = threading.Event()

    def ingest() -> None:
        k = 0
        while not stop.is_set():
            logs = [_log(rng, 10 * ROWS + k + n, time.time()) for n in range(50)]
            k += 50
            began, cpu = time.perf_counter(), time.thread_time()  # SQLite works in the calling thread
            writer.store(app_id, "prod", batch.Batch("log", str(uuid.uuid4()), request_logs=logs))
            latencies.append((time.perf_counter(), time.perf_counter() - began, time.thread_time() - cpu))
            stop.wait(0.05)

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        time.sleep(3)
        began = time.perf_counter()
        deleted = ingest_retention.run(db, settings, now)
        ended = time.perf_counter()
        time.sleep(1)
    finally:
        stop.set()
        thread.join()
    before = [s for at, s, _ in latencies if at < began]
    during = [(s, c) for at, s, c in latencies if at >= began and at - s <= ended]  # overlapping the delete
    worst, worst_cpu = max(during, default=(0.0, 0.0))
    print(
        f"{engine:8s}  retention of the oldest day: {deleted:,} rows deleted in {ended - began:.1f} s while "
        f"ingesting; store of 50 logs: median {statistics.median(before) * 1000:.0f} ms before, longest "
        f"{worst * 1000:.0f} ms during it ({worst_cpu * 1000:.0f} ms of it its thread's CPU; "
        f"{len(during)} stores, {sum(1 for w, _ in during if w >= 1)} of them over 1 s; "
        f"target < 1000 ms: {'ok' if worst < 1 else 'OVER'})"
    )


def main() -> None:
    print(
        f"request_logs: {ROWS:,} logged requests over {DAYS} days "
        f"(load={LOAD}, {BATCH} per batch); engines {','.join(ENGINES)}; {REPEAT} runs per figure"
    )
    with tempfile.TemporaryDirectory(prefix="tallyhub-bench-") as tmp:
        folder = Path(KEEP) if KEEP else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        record = (lambda engine: folder / f"request_logs-{ROWS}-{engine}.json") if KEEP else (lambda _: None)
        if "sqlite" in ENGINES:
            file = folder / f"request_logs-{ROWS}.sqlite3"
            if not record("sqlite") or not record("sqlite").exists():  # no complete load to reuse
                for leftover in folder.glob(f"{file.name}*"):
                    leftover.unlink()
            bench_engine("sqlite", f"sqlite:///{file}", file, record("sqlite"))
        if "postgres" in ENGINES:
            if KEEP:
                kept = record("postgres")
                bench_engine("postgres", _kept_postgres(fresh=not kept.exists()), None, kept)
                return
            with scratch_postgres() as url:
                if url is not None:
                    bench_engine("postgres", url, None)


def _kept_postgres(fresh: bool) -> str:
    """The database that BENCH_REQUEST_LOGS_KEEP runs share (made again when `fresh`, else kept)."""
    name = f"tallyhub_bench_request_logs_{ROWS}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        if fresh:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first() is None:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    main()
