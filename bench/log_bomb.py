"""Memory of ingesting a request-log "bomb": a small gzip file that inflates to 99 MB (issue 10).

Stores the same file twice on a fresh database per engine and prints the tracemalloc peak of each:
the hub's /log path (tallyhub.ingest.v2.routes: inflated, split and stored in parts as it comes) and,
as the baseline, the file taken whole, as the hub did before: inflated at once, every line parsed,
one batch stored (the same models, translator and writer). The ratio is baseline / streamed.

    python -m bench.log_bomb
    (BENCH_LOG_MB=99 BENCH_ENGINES=sqlite,postgres)
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import tempfile
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.request_log import RequestLogLine
from tallyhub.ingest.v2.routes import _store_log
from tallyhub.ingest.writer import Writer
from tallyhub.settings import load_settings
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import request_logs

LOG_MB = float(os.environ.get("BENCH_LOG_MB", "99"))
ENGINES = os.environ.get("BENCH_ENGINES", "sqlite,postgres").split(",")
PG_ADMIN_URL = os.environ.get(
    "TALLYHUB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BODY = base64.b64encode(b"<tr><td>row</td></tr>" * 2200).decode()  # ~60 KB: a logged response body


def bomb() -> bytes:
    """A request-log file of LOG_MB inflated: lines as the official client writes them, with big bodies."""
    now = time.time()
    lines = []
    size = 0
    while size < LOG_MB * 1e6:
        line = json.dumps(
            {
                "uuid": str(uuid.uuid4()),
                "request": {"timestamp": now, "method": "GET", "path": "/report", "url": "http://api/report"},
                "response": {"status_code": 200, "response_time": 0.05, "size": 60000, "body": BODY},
            }
        )
        lines.append(line)
        size += len(line) + 1
    return gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=9)


def whole(writer: Writer, app_id: int, body: bytes) -> None:
    """The baseline: the whole file inflated, parsed and stored as one batch."""
    text = zlib.decompress(body, wbits=16 + zlib.MAX_WBITS)
    lines = [RequestLogLine.model_validate_json(raw) for raw in text.split(b"\n") if raw.strip()]
    writer.store(app_id, "prod", translate.request_log(str(uuid.uuid4()), lines))


def peak(run: Callable[[], object]) -> tuple[float, float]:
    """(tracemalloc peak in MB, seconds) of `run`."""
    tracemalloc.start()
    began = time.perf_counter()
    try:
        run()
        _, top = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return top / 1e6, time.perf_counter() - began


def bench_engine(engine: str, database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    try:
        app_id = apps.create_app(db, "Bomb", ("prod",)).id
        writer = Writer(db)
        settings = load_settings(environ={})
        baseline, streamed = bomb(), bomb()  # two files, so that neither one's lines are duplicates
        base_mb, base_s = peak(lambda: whole(writer, app_id, baseline))
        new_mb, new_s = peak(
            lambda: _store_log(writer, app_id, "prod", str(uuid.uuid4()), streamed, settings)
        )
        with db.read() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(request_logs)).scalar_one()
        print(
            f"{engine:9} log_bomb  streamed: peak {new_mb:7.1f} MB in {new_s:5.1f} s | "
            f"whole file (baseline): peak {base_mb:7.1f} MB in {base_s:5.1f} s | "
            f"ratio {base_mb / new_mb:5.1f}x less memory | {rows} rows | load {os.getloadavg()[0]:.2f}"
        )
    finally:
        db.dispose()


def main() -> None:
    body = bomb()
    inflated = len(zlib.decompress(body, wbits=16 + zlib.MAX_WBITS))
    print(f"log file: {len(body) / 1e6:.2f} MB gzip, {inflated / 1e6:.1f} MB inflated")
    if "sqlite" in ENGINES:
        with tempfile.TemporaryDirectory() as tmp:
            bench_engine("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
    if "postgres" in ENGINES:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        name = f"tallyhub_bench_{uuid.uuid4().hex[:8]}"
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        except sa.exc.OperationalError as exc:
            print(f"postgres  skipped: {PG_ADMIN_URL} unreachable ({exc.orig})")
            return
        try:
            bench_engine("postgres", sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False))
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.dispose()


if __name__ == "__main__":
    main()
