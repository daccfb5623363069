"""Read-API query times on >= 10 million requests over 30 days (50 endpoints, 100 consumers).

Target (issue #2): the 30-day traffic query (totals + hourly series + percentiles) and the 24-hour
one (minute series) each answer in under 300 ms. Prints the median of 5 runs after one warm-up, and
its ratio to that 300 ms budget, for SQLite and (when TALLYHUB_TEST_DATABASE_URL is set) PostgreSQL.

Environment: BENCH_QUERIES_REQUESTS (default 10,000,000) scales the data set; BENCH_QUERIES_ENGINES
(default "sqlite,postgres") picks engines; BENCH_QUERIES_KEEP=1 keeps the databases afterwards, under
names made of the loader and size, and a later run with it reuses them instead of loading again (the
data set then ends at the time it was loaded: minutes since then are empty).
The data set goes through the ingestion code (bench._ingested); BENCH_QUERIES_LOADER=direct writes the
same traffic straight into the tables instead (bench._dataset: faster, for iterating on queries).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tallyhub.accounts.tokens import create_token
from tallyhub.app import create_app
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import apps, envs

from bench import _dataset, _ingested

BUDGET_MS = 300.0
LOADERS: dict[str, Callable[[Database, int, _dataset.Spec, float], _dataset.Loaded]] = {
    "ingestion": _ingested.load,
    "direct": _dataset.load,
}


def loader_name() -> str:
    return os.environ.get("BENCH_QUERIES_LOADER", "ingestion")


def databases(spec: _dataset.Spec) -> Iterator[tuple[str, str]]:
    """A fresh SQLite file, then a fresh PostgreSQL database when one is configured.

    They are removed afterwards unless BENCH_QUERIES_KEEP=1 (to look at query plans, or to run again
    on the same data set: kept databases are named by loader and size, and found again by that name).
    """
    keep = os.environ.get("BENCH_QUERIES_KEEP") == "1"
    kept_name = f"tallyhub_bench_{loader_name()}_{spec.requests}"
    engines = os.environ.get("BENCH_QUERIES_ENGINES", "sqlite,postgres").split(",")
    if "sqlite" in engines:
        if keep:
            tmp = str(Path(tempfile.gettempdir()) / kept_name)
            os.makedirs(tmp, exist_ok=True)
        else:
            tmp = tempfile.mkdtemp(prefix="tallyhub-bench-")
        try:
            yield "sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        finally:
            if keep:
                print(f"kept {tmp}", flush=True)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    pg = os.environ.get("TALLYHUB_TEST_DATABASE_URL", "")
    if not pg or "postgres" not in engines:
        return
    name = kept_name if keep else f"tallyhub_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists is None:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield "postgres", sa.make_url(pg).set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}", flush=True)
        else:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def timed(client: TestClient, url: str, params: dict[str, object]) -> tuple[float, list[float], Any]:
    first = time.perf_counter()
    response = client.get(url, params=params)
    cold = (time.perf_counter() - first) * 1000
    assert response.status_code == 200, response.text
    runs = []
    for _ in range(5):
        began = time.perf_counter()
        response = client.get(url, params=params)
        runs.append((time.perf_counter() - began) * 1000)
    return cold, runs, response.json()


def bench_app(engine: str, db: Database, spec: _dataset.Spec, team_id: int | None = None) -> int:
    """The id of the app holding the data set: one loaded by an earlier run (kept database), or a new one.

    The app is named "Bench" only once its data set is complete, so an interrupted load is not reused.
    """
    with db.read() as conn:
        found = conn.execute(
            sa.select(apps.c.id, apps.c.created_at)
            .join(envs, envs.c.app_id == apps.c.id)
            .where(apps.c.name == "Bench", envs.c.name == _ingested.ENV)
        ).first()
    if found is not None:
        age = (time.time() - found.created_at) / 60
        print(f"[{engine}] reusing the data set loaded {age:.0f} min ago", flush=True)
        return int(found.id)
    app = app_store.create_app(db, "Bench (loading)", (), team_id=team_id)
    loader = loader_name()
    loaded = LOADERS[loader](db, app.id, spec, app.created_at)
    print(
        f"[{engine}] loaded {loaded.requests:,} requests ({loader}) as {loaded.rows:,} metric rows "
        f"in {loaded.seconds:.0f} s",
        flush=True,
    )
    with db.write() as conn:
        if engine == "postgres":
            conn.exec_driver_sql("ANALYZE")  # what autovacuum does after a bulk load
        conn.execute(apps.update().where(apps.c.id == app.id).values(name="Bench"))
    return app.id


def bench(engine: str, url: str, spec: _dataset.Spec) -> bool:
    db = Database(url)
    upgrade(db)
    app_id = bench_app(engine, db, spec)
    token = create_token(db, "bench")
    now = time.time()
    settings = load_settings({"database_url": url}, environ={})
    ok = True
    base = f"/api/v1/apps/{app_id}"
    day, month = now - 86400, now - 30 * 86400
    cases: list[tuple[str, str, dict[str, object], bool]] = [
        ("traffic 30 d, hourly series", "/traffic", {"start": month, "end": now, "interval": "hour"}, True),
        ("traffic 24 h, minute series", "/traffic", {"start": day, "end": now, "interval": "minute"}, True),
        (
            "traffic 30 d, daily, path filter (level 1)",
            "/traffic",
            {"start": month, "path": "/resource3"},
            False,
        ),
        (
            "traffic 24 h, hourly, consumer (level 3)",
            "/traffic",
            {"start": day, "consumer": "consumer-7"},
            False,
        ),
        ("endpoints 24 h", "/endpoints", {"start": day}, False),
        ("consumers 24 h", "/consumers", {"start": day}, False),
    ]
    with TestClient(create_app(settings, db, run_maintenance=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        for label, route, params, targeted in cases:
            cold, runs, body = timed(client, base + route, params)
            median = statistics.median(runs)
            verdict = ""
            if targeted:
                verdict = "OK" if median < BUDGET_MS else "OVER BUDGET"
                ok &= median < BUDGET_MS
            requests = body["totals"]["requests"] if isinstance(body, dict) else len(body)
            print(
                f"[{engine}] {label:45s} median {median:7.1f} ms  max {max(runs):7.1f}  cold {cold:7.1f}"
                f"  ratio to {BUDGET_MS:.0f} ms budget {median / BUDGET_MS:5.2f}  {verdict}"
                f"  ({requests:,} {'requests' if isinstance(body, dict) else 'items'})",
                flush=True,
            )
    db.dispose()
    return ok


def on_every_engine(bench: Callable[[str, str, _dataset.Spec], bool]) -> int:
    """Run `bench` on each engine's copy of the data set; the exit status says whether all met the budget."""
    spec = _dataset.Spec(requests=int(os.environ.get("BENCH_QUERIES_REQUESTS", "10000000")))
    ok = True
    for engine, url in databases(spec):
        ok &= bench(engine, url, spec)
    return 0 if ok else 1


def main() -> int:
    return on_every_engine(bench)


if __name__ == "__main__":
    sys.exit(main())
