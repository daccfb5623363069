"""Retention on PostgreSQL: a day of minute rows dropped as a partition vs deleted row by row.

Two UTC days get the same rolled minute rows (BENCH_RETENTION_ROWS, default 300,000, in 1440 minutes);
retention then runs with its cutoff at the end of the first day (its slice is dropped whole) and, for the
second day, the row delete of metrics/retention.py (storage.bulk.delete_batched) removes the same number
of rows. Prints both times and their ratio, measured in the same run on the same database.

    python -m bench.partition_retention   (TALLYHUB_BENCH_POSTGRES_URL as bench.ingest)
"""

from __future__ import annotations

import os
import random
import time

import sqlalchemy as sa
from tallyhub.metrics.rows import COLUMNS
from tallyhub.storage import apps, bulk, partitions
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.partitions import METRIC_SLICES
from tallyhub.storage.tables import DAY, MINUTE, metrics

from bench.ingest import scratch_postgres

ROWS = int(os.environ.get("BENCH_RETENTION_ROWS", "300000"))


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
        finally:
            db.dispose()
    print(
        "postgres  retention of one day of minute rows: "
        f"partition dropped {dropped} rows in {drop_s * 1000:.0f} ms, "
        f"rows deleted {deleted} in {delete_s * 1000:.0f} ms   ratio {drop_s / delete_s:.3f}   "
        f"(load {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )


if __name__ == "__main__":
    main()
