"""Rollup: closed minute rows are merged into hour and day rows, one row per key and bucket.

A minute row is closed once its minute has ended (bucket < start of the current minute). Each batch, in
one transaction, takes the unrolled minute rows of a range of whole minutes (about `batch_rows` rows),
adds them into the hour and day rows of the same (env, level, endpoint, consumer, status) key, creating
those rows when missing, and marks the minute rows `rolled`. So hour/day rows + unrolled minute rows
always hold each request exactly once (tables.py), a reader sees a batch all or not at all, and a rollup
stopped half-way (a crash, a lost lease) leaves nothing half-done: the next run starts the batch again.
Hours and days are UTC (bucket = floor(t / size) * size). Runs are serialised: SQLite by its single
writer, PostgreSQL by a transaction advisory lock. On PostgreSQL each batch takes its write lock on
`metrics` (all partitions) first, so that maintenance creating or dropping a slice in another hub process
waits for the batch instead of deadlocking with it.

The batch is summed in SQL: one GROUP BY per batch adds the counts and size sums of each hour and key and
concatenates its minute rows' histograms, so Python handles one row per hour and key, not one per minute
row, and parses each group's histograms with one orjson call (hourly.py). Marking the batch rolled is one
UPDATE of the same range; on PostgreSQL it is the statement that returns the rows summed (a data-modifying
CTE), so a minute row committed by ingestion meanwhile is either in both or in neither.
"""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.metrics import hourly
from tallyhub.settings import Settings
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, UNROLLED_MINUTES

# Minute rows per batch (whole minutes, so a batch may hold a few more): at the rates measured by
# BENCH=rollup a batch holds the write lock for a fraction of a second.
BATCH_ROWS = 50_000
_ADVISORY_LOCK = 0x7461_6C6C_7275  # "tallru": any constant no other part of the hub uses

_KEY = "env_id, level, endpoint_id, consumer_id, status_code"
_IN_BATCH = f"{UNROLLED_MINUTES} AND bucket BETWEEN :first AND :last"
_VALUES = "request_count, request_size_sum, response_size_sum, response_times, request_sizes, response_sizes"


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
            count, last_batch = _roll_batch(conn, cutoff, batch_rows)
        rolled += count
        if last_batch:
            return rolled


def _roll_batch(conn: sa.Connection, cutoff: int, batch_rows: int) -> tuple[int, bool]:
    """Roll one batch; returns (minute rows rolled, whether it reached the cutoff)."""
    span = _batch_span(conn, cutoff, batch_rows)
    if span is None:
        return 0, True
    first, last, last_batch = span
    hours = hourly.Groups.from_rows(conn.execute(_summed_batch(conn), {"first": first, "last": last}))
    if conn.dialect.name != "postgresql":
        # SQLite: the write transaction began IMMEDIATE, so no row of the range changed since the SELECT.
        conn.execute(
            sa.text(f"UPDATE metrics SET rolled = true WHERE {_IN_BATCH}"),
            {"first": first, "last": last},
        )
    days = hours.coarser(DAY)
    hourly.add_to_stored(conn, HOUR, hours)
    hourly.add_to_stored(conn, DAY, days)
    return hours.minute_rows, last_batch


def _batch_span(conn: sa.Connection, cutoff: int, batch_rows: int) -> tuple[int, int, bool] | None:
    """The next batch's first and last minute and whether it ends at the cutoff; None when none is left.

    Both lookups walk the (granularity, rolled, bucket) index: the first unrolled minute, then the minute
    of the batch_rows-th unrolled row from it. The batch takes that minute whole.
    """
    closed = f"{UNROLLED_MINUTES} AND bucket < :cutoff"
    first = conn.execute(
        sa.text(f"SELECT min(bucket) FROM metrics WHERE {closed}"), {"cutoff": cutoff}
    ).scalar()
    if first is None:
        return None
    nth = conn.execute(
        sa.text(
            f"SELECT bucket FROM metrics WHERE {closed} AND bucket >= :first"
            " ORDER BY bucket LIMIT 1 OFFSET :n"
        ),
        {"cutoff": cutoff, "first": first, "n": batch_rows - 1},
    ).scalar()
    if nth is None:
        return int(first), cutoff - 1, True
    return int(first), int(nth), False


def _summed_batch(conn: sa.Connection) -> sa.TextClause:
    """The batch's rows summed per env, hour and key: counts and size sums added, histograms concatenated.

    Columns in hourly.Groups.from_rows' order. On PostgreSQL the rows are read from the UPDATE that marks
    them rolled.
    """
    hour = f"bucket / {HOUR} * {HOUR}"
    if conn.dialect.name == "postgresql":
        return sa.text(
            f"""
            WITH batch AS (
                UPDATE metrics SET rolled = true WHERE {_IN_BATCH}
                RETURNING bucket, {_KEY}, {_VALUES}
            )
            SELECT {_KEY}, {hour} AS hour, count(*), sum(request_count)::bigint,
                sum(request_size_sum)::bigint, sum(response_size_sum)::bigint,
                string_agg(response_times, ','), string_agg(request_sizes, ','),
                string_agg(response_sizes, ',')
            FROM batch GROUP BY {_KEY}, hour
            """
        )
    return sa.text(
        f"""
        SELECT {_KEY}, {hour} AS hour, count(*), sum(request_count), sum(request_size_sum),
            sum(response_size_sum), group_concat(response_times, ','), group_concat(request_sizes, ','),
            group_concat(response_sizes, ',')
        FROM metrics WHERE {_IN_BATCH} GROUP BY {_KEY}, hour
        """
    )
