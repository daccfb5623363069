"""Retention on PostgreSQL: a day of minute rows, and a day of request logs, dropped as a partition vs
deleted row by row.

Two UTC days get the same rolled minute rows (BENCH_RETENTION_ROWS, default 300,000, in 1440 minutes);
retention then runs with its cutoff at the end of the first day (its slice is dropped whole) and, for the
second day, the row delete of metrics/retention.py (storage.bulk.delete_batched) removes the same number
of rows. Then the same for request logs (BENCH_RETENTION_LOG_ROWS a day, default 100,000, each with
headers, a JSON response body and its text as ingestion stores them, so every index of the table,
the body search's trigram indexes too, has its entries): the day slice dropped vs ingest/retention.py's
row delete. Prints each pair of times and their ratio, measured in the same run on the same database.

    python -m bench.partition_retention   (TALLYHUB_BENCH_POSTGRES_URL as bench.ingest)
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid

import sqlalchemy as sa
from tallyhub.metrics.rows import COLUMNS
from tallyhub.storage import apps, bulk, partitions
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.partitions import LOG_SLICES, METRIC_SLICES
from tallyhub.storage.tables import DAY, MINUTE, metrics, request_logs

from bench.ingest import scratch_postgres

ROWS = int(os.environ.get("BENCH_RETENTION_ROWS", "300000"))
LOG_ROWS = int(os.environ.get("BENCH_RETENTION_LOG_ROWS", "100000"))
LOG_COLUMNS = (
    "env_id",
    "uuid",
    "timestamp",
    "method",
    "path",
    "url",
    "status_code",
    "response_time",
    "response_size",
    "details",
    "response_body_text",
)


# request_count, sizes and histograms of one request, then rolled = true.
VALUES = (1, 100, 200, '{"50":1}', '{"0":1}', '{"0":1}', True)


def fill_day(db: Database, env_id: int, day: int, count: int = ROWS) -> None:
    """`count` rolled minute rows of the env spread over the UTC day beginning at `day`."""
    rng = random.Random(day)
    rows = [
        (
            env_id,
            MINUTE,
            day + rng.randrange(1440) * MINUTE,
            2,
            rng.randrange(50),
            rng.randrange(500),
            200,
            *VALUES,
        )
        for _ in range(count)
    ]
    with db.write() as conn:
        bulk.append(conn, metrics, COLUMNS, rows)


def _fill_logs(db: Database, env_id: int, day: int) -> None:
    rng = random.Random(day)
    rows = []
    for i in range(LOG_ROWS):
        body = f'{{"id": {i}, "name": "Item {i}", "price": {rng.randrange(10000) / 100}}}'
        details = {
            "request_headers": [["User-Agent", "python-requests/2.32.3"], ["Accept", "application/json"]],
            "request_body": None,
            "response_headers": [["Content-Type", "application/json"], ["Content-Length", str(len(body))]],
            "response_body": body,
            "exception": None,
            "client_ip": "10.0.0.1",
            "logs": None,
            "spans": None,
        }
        rows.append(
            (
                env_id,
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                day + rng.random() * DAY,
                "GET",
                "/items/{id}",
                f"https://shop.test/items/{i}",
                200,
                rng.random() / 10,
                len(body),
                json.dumps(details),
                body,
            )
        )
    with db.write() as conn:
        bulk.append(conn, request_logs, LOG_COLUMNS, rows)


def _logs_retention(db: Database, env_id: int, first: int) -> str:
    """Request logs of two days: the first day's slice dropped, the second day's rows deleted."""
    for day in (first, first + DAY):
        _fill_logs(db, env_id, day)
    with db.write() as conn:
        conn.execute(sa.text("ANALYZE request_logs"))
    started = time.perf_counter()
    dropped = partitions.drop_past(db, LOG_SLICES["request_logs"], first + DAY)
    drop_s = time.perf_counter() - started
    second = sa.and_(request_logs.c.timestamp >= first + DAY, request_logs.c.timestamp < first + 2 * DAY)
    started = time.perf_counter()
    deleted = bulk.delete_batched(db, request_logs, second)
    delete_s = time.perf_counter() - started
    return (
        "postgres  retention of one day of request logs: "
        f"partition dropped {dropped} rows in {drop_s * 1000:.0f} ms, "
        f"rows deleted {deleted} in {delete_s * 1000:.0f} ms   ratio {drop_s / delete_s:.3f}"
    )


def main() -> None:
    with scratch_postgres() as url:
        if url is None:
            return
        db = Database(url)
        try:
            upgrade(db)
            app = apps.create_app(db, "Bench", ("prod",))
            with db.write() as conn:
                env_id = apps.ensure_env(conn, app.id, "prod")
            first = (int(time.time()) // DAY - 30) * DAY
            partitions.create_ahead(db, first + DAY)
            for day in (first, first + DAY):
                fill_day(db, env_id, day)
            with db.write() as conn:
                conn.execute(sa.text("ANALYZE metrics"))
            started = time.perf_counter()
            dropped = partitions.drop_past(db, METRIC_SLICES[MINUTE], first + DAY)
            drop_s = time.perf_counter() - started
            second = sa.and_(
                metrics.c.granularity == MINUTE,
                metrics.c.bucket >= first + DAY,
                metrics.c.bucket < first + 2 * DAY,
            )
            started = time.perf_counter()
            deleted = bulk.delete_batched(db, metrics, second)
            delete_s = time.perf_counter() - started
            logs = _logs_retention(db, env_id, first)
        finally:
            db.dispose()
    load = f"(load {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    print(
        "postgres  retention of one day of minute rows: "
        f"partition dropped {dropped} rows in {drop_s * 1000:.0f} ms, "
        f"rows deleted {deleted} in {delete_s * 1000:.0f} ms   ratio {drop_s / delete_s:.3f}   {load}"
    )
    print(f"{logs}   {load}")


if __name__ == "__main__":
    main()
