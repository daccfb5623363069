"""Rollup: closed minute rows are merged into hour and day rows, one row per key and bucket.

A minute row is closed once its minute has ended (bucket < start of the current minute). Each batch, in
one transaction, adds a bounded number of unrolled minute rows into the hour and day rows of the same
(env, level, endpoint, consumer, status) key, creating those rows when missing, and marks the minute rows
`rolled`. So hour/day rows + unrolled minute rows always hold each request exactly once (tables.py), and
a long backlog is worked through in short transactions. Hours and days are UTC (bucket = floor(t / size)
* size). Runs are serialised: SQLite by its single writer, PostgreSQL by a transaction advisory lock.
On PostgreSQL each batch takes its write lock on `metrics` (all partitions) first, so that maintenance
creating or dropping a slice in another hub process waits for the batch instead of deadlocking with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from tallyhub.metrics.rows import VALUE_COLUMNS, Aggregate, RowKey
from tallyhub.settings import Settings
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, metrics

BATCH_ROWS = 5000
_KEYS_PER_QUERY = 400
_ADVISORY_LOCK = 0x7461_6C6C_7275  # "tallru": any constant no other part of the hub uses

# (env_id, granularity, bucket) -> row key -> aggregate
Target = tuple[int, int, int]


def run(db: Database, settings: Settings, now: float, batch_rows: int = BATCH_ROWS) -> int:
    """Roll every closed minute row into its hour and day rows; returns how many minute rows it rolled."""
    cutoff = int(now // MINUTE) * MINUTE
    rolled = 0
    while True:
        with db.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
                # The write lock on every partition before the first read: a batch reads partitions
                # (ACCESS SHARE) it then writes (ROW EXCLUSIVE), and a slice being attached or dropped
                # meanwhile (ACCESS EXCLUSIVE on the default or the slice, another hub process's
                # maintenance) would deadlock with that upgrade. Taken first, the other one waits.
                conn.execute(sa.text("LOCK TABLE metrics IN ROW EXCLUSIVE MODE"))
            count = _roll_batch(conn, cutoff, batch_rows)
        rolled += count
        if count < batch_rows:
            return rolled


def _roll_batch(conn: sa.Connection, cutoff: int, batch_rows: int) -> int:
    minute_rows = conn.execute(
        sa.select(metrics)
        .where(metrics.c.granularity == MINUTE, metrics.c.rolled == sa.false(), metrics.c.bucket < cutoff)
        # In the order of the (granularity, rolled, bucket) index, so a batch reads only its own rows
        # even behind a long backlog (ordering by id sorted every unrolled row for every batch).
        .order_by(metrics.c.bucket)
        .limit(batch_rows)
    ).all()
    if not minute_rows:
        return 0
    hours: dict[Target, dict[RowKey, Aggregate]] = {}
    for row in minute_rows:
        key: RowKey = (row.level, row.endpoint_id, row.consumer_id, row.status_code)
        slot = hours.setdefault((row.env_id, HOUR, row.bucket // HOUR * HOUR), {})
        aggregate = slot.get(key)
        if aggregate is None:
            aggregate = slot[key] = Aggregate()
        aggregate.add_row(row)
    # Days from the hours just summed, not from the minute rows again: each minute row's histograms are
    # parsed and merged once (that merging is most of a rollup's time).
    targets = dict(hours)
    for (env_id, _, hour), slot in hours.items():
        day = targets.setdefault((env_id, DAY, hour // DAY * DAY), {})
        for key, aggregate in slot.items():
            day.setdefault(key, Aggregate()).add_aggregate(aggregate)
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for (env_id, size, bucket), slot in targets.items():
        existing = _existing(conn, env_id, size, bucket, list(slot))
        for key, aggregate in slot.items():
            stored = existing.get(key)
            if stored is not None:
                aggregate.add_row(stored)
                updates.append({"row_id": stored.id, "g": size, "b": bucket, **aggregate.columns()})
            else:
                level, endpoint_id, consumer_id, status_code = key
                inserts.append(
                    {
                        "env_id": env_id,
                        "granularity": size,
                        "bucket": bucket,
                        "level": level,
                        "endpoint_id": endpoint_id,
                        "consumer_id": consumer_id,
                        "status_code": status_code,
                        "rolled": False,
                        **aggregate.columns(),
                    }
                )
    if updates:
        conn.execute(
            metrics.update()
            # Granularity and bucket besides the id: PostgreSQL then updates in one partition only.
            .where(
                metrics.c.id == sa.bindparam("row_id"),
                metrics.c.granularity == sa.bindparam("g"),
                metrics.c.bucket == sa.bindparam("b"),
            )
            .values({name: sa.bindparam(name) for name in VALUE_COLUMNS}),
            updates,
        )
    if inserts:
        conn.execute(metrics.insert(), inserts)
    ids = [row.id for row in minute_rows]
    in_batch = sa.and_(
        metrics.c.granularity == MINUTE,
        metrics.c.bucket.between(minute_rows[0].bucket, minute_rows[-1].bucket),  # ordered by bucket
    )
    for chunk in _chunks(ids, 1000):
        conn.execute(metrics.update().where(in_batch, metrics.c.id.in_(chunk)).values(rolled=True))
    return len(minute_rows)


def _existing(
    conn: sa.Connection, env_id: int, size: int, bucket: int, keys: list[RowKey]
) -> dict[RowKey, Any]:
    """The stored hour/day rows of these keys (at most one per key: rollups never run concurrently)."""
    found: dict[RowKey, Any] = {}
    by_level: dict[int, list[tuple[int, int, int]]] = {}
    for level, endpoint_id, consumer_id, status_code in keys:
        by_level.setdefault(level, []).append((endpoint_id, consumer_id, status_code))
    rest = sa.tuple_(metrics.c.endpoint_id, metrics.c.consumer_id, metrics.c.status_code)
    for level, level_keys in by_level.items():
        for chunk in _chunks(level_keys, _KEYS_PER_QUERY):
            # Equality on every column of the (env_id, granularity, level, bucket) index, so a lookup
            # reads one bucket's rows, not every row of the granularity.
            query = sa.select(metrics).where(
                metrics.c.env_id == env_id,
                metrics.c.granularity == size,
                metrics.c.level == level,
                metrics.c.bucket == bucket,
                rest.in_(chunk),
            )
            for row in conn.execute(query):
                found.setdefault((row.level, row.endpoint_id, row.consumer_id, row.status_code), row)
    return found


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
