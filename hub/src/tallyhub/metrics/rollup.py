"""Rollup: closed minute rows are merged into hour and day rows, one row per key and bucket.

A minute row is closed once its minute has ended (bucket < start of the current minute). The rollup's
progress is a mark (tables.rollup_marks): minute rows before `minutes_before` with an id up to
`through_id` are in the hour and day rows; the others are not (tables.UNROLLED_MINUTES), and that is what
readers add to the hour and day rows. Each batch, in one transaction, sums a range of minute rows into
the hour and day rows of the same (env, level, endpoint, consumer, status) key, creating those rows when
missing, and moves the mark past them: the minute rows themselves are not written (marking each one
`rolled` was most of the rollup's time on PostgreSQL, issue 14). So hour/day rows + unrolled minute rows
always hold each request exactly once, a reader sees a batch all or not at all, and a rollup stopped
half-way (a crash, a lost lease) leaves nothing half-done: the next run starts the batch again.

Late rows: ingestion may write a minute row for a minute already rolled (syncs dated up to 25 hours
back). Its id is above the mark's through_id, so readers count it as unrolled, and the next run's first
batches add those rows to their hours (by id) before moving through_id. That needs ids below the new
through_id to be final: a run first waits until every transaction that wrote `metrics` has ended (SQLite:
the write lock; PostgreSQL: a brief SHARE lock on the `metrics` parent alone, so ingestion waits for that
instant only) and takes the largest id then; rows written later get higher ids.

Hours and days are UTC (bucket = floor(t / size) * size). Runs are serialised: SQLite by its single
writer, PostgreSQL by a transaction advisory lock. On PostgreSQL each batch takes its write lock on
`metrics` (all partitions) first, so that maintenance creating or dropping a slice in another hub process
waits for the batch instead of deadlocking with it.

The batch is summed in SQL: one GROUP BY per batch adds the counts and size sums of each hour and key and
concatenates its minute rows' histograms, so Python handles one row per hour and key, not one per minute
row, and parses each group's histograms with one orjson call (hourly.py).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from tallyhub.metrics import hourly
from tallyhub.settings import Settings
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, metrics, rollup_marks

log = logging.getLogger(__name__)

# Minute rows per batch (whole minutes, so a batch may hold a few more): at the rates measured by
# BENCH=rollup a batch holds the write lock for a fraction of a second.
BATCH_ROWS = 50_000
_ADVISORY_LOCK = 0x7461_6C6C_7275  # "tallru": any constant no other part of the hub uses

_KEY = "env_id, level, endpoint_id, consumer_id, status_code"
# Minute rows the rollup may take: those marked `rolled` (before migration 0042) are in the hours already.
_MINUTES = f"granularity = {MINUTE} AND rolled = false"
_SETTLE_LOCK_TIMEOUT = "5s"


def run(db: Database, settings: Settings, now: float, batch_rows: int = BATCH_ROWS) -> int:
    """Roll every closed minute row into its hour and day rows; returns how many minute rows it rolled."""
    cutoff = int(now // MINUTE) * MINUTE
    settled = _settled_id(db)
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
            count, last_batch = _roll_batch(conn, cutoff, settled, batch_rows)
        rolled += count
        if last_batch:
            return rolled


def _settled_id(db: Database) -> int:
    """The largest metrics id once no transaction that may hold a lower one is still open (0 if that
    wait timed out: the run then rolls what the stored mark allows, and the next run tries again)."""
    try:
        with db.write() as conn:  # SQLite: taking the write lock is the wait
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"SET LOCAL lock_timeout = '{_SETTLE_LOCK_TIMEOUT}'"))
                # ONLY: the parent alone, which every INSERT, UPDATE and DELETE through `metrics` holds in
                # ROW EXCLUSIVE mode; maintenance's slice moves lock partitions, so they cannot wait on
                # this one lock while it waits on them.
                conn.execute(sa.text("LOCK TABLE ONLY metrics IN SHARE MODE"))
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(metrics.c.id), 0))).scalar_one())
    except sa.exc.OperationalError as error:
        log.warning("rollup: metrics ids not settled, rolling up to the stored mark: %s", error.orig)
        return 0


def _roll_batch(conn: sa.Connection, cutoff: int, settled: int, batch_rows: int) -> tuple[int, bool]:
    """Roll one batch; returns (minute rows rolled, whether nothing is left before the cutoff)."""
    before, through = _marks(conn)
    upto = max(settled, through)
    if through < upto:
        # Rows written since the last run for minutes already rolled, in id order (none before a mark at 0).
        last_id = _late_span(conn, before, through, upto, batch_rows) if before > 0 else None
        if last_id is not None:
            where = f"{_late(conn)} AND id > :through AND id <= :last_id AND bucket < :before"
            count = _add_to_hours(conn, where, {"through": through, "last_id": last_id, "before": before})
            _move_marks(conn, before, last_id)
            return count, False
        through = upto  # none: the mark below moves on to upto
    span = _batch_span(conn, before, cutoff, batch_rows)
    if span is None:
        _move_marks(conn, max(before, cutoff), through)
        return 0, True
    first, last, last_batch = span
    where = f"{_MINUTES} AND bucket BETWEEN :first AND :last AND id <= :upto"
    count = _add_to_hours(conn, where, {"first": first, "last": last, "upto": upto})
    _move_marks(conn, cutoff if last_batch else last + MINUTE, through)
    return count, last_batch


def _add_to_hours(conn: sa.Connection, where: str, params: dict[str, int]) -> int:
    """Add the minute rows matching `where` to their hour and day rows; returns how many there were."""
    hours = hourly.Groups.from_rows(conn.execute(_summed(conn, where), params))
    days = hours.coarser(DAY)
    hourly.add_to_stored(conn, HOUR, hours)
    hourly.add_to_stored(conn, DAY, days)
    return hours.minute_rows


def _marks(conn: sa.Connection) -> tuple[int, int]:
    row = conn.execute(sa.select(rollup_marks.c.minutes_before, rollup_marks.c.through_id)).first()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def _move_marks(conn: sa.Connection, before: int, through: int) -> None:
    values = {"minutes_before": before, "through_id": through}
    if conn.execute(rollup_marks.update().values(values)).rowcount == 0:
        conn.execute(rollup_marks.insert().values(id=1, **values))


def _late_span(conn: sa.Connection, before: int, through: int, upto: int, batch_rows: int) -> int | None:
    """The last id of the next batch of late rows (ids in (through, upto], minutes before `before`), None
    when there are none. Walks the id index (SQLite: the rowids; PostgreSQL: each slice's primary key)."""
    late = f"{_late(conn)} AND id > :through AND id <= :upto AND bucket < :before"
    params = {"through": through, "upto": upto, "before": before}
    nth = conn.execute(
        sa.text(f"SELECT id FROM metrics WHERE {late} ORDER BY id LIMIT 1 OFFSET :n"),
        {**params, "n": batch_rows - 1},
    ).scalar()
    if nth is not None:
        return int(nth)
    found = conn.execute(sa.text(f"SELECT max(id) FROM metrics WHERE {late}"), params).scalar()
    return None if found is None else upto


def _late(conn: sa.Connection) -> str:
    """_MINUTES for a lookup by id: on SQLite "+granularity" keeps the planner on the rowids, off the
    (granularity, rolled, bucket) index, which would walk every minute row before the mark."""
    return f"+{_MINUTES}" if conn.dialect.name == "sqlite" else _MINUTES


def _batch_span(
    conn: sa.Connection, before: int, cutoff: int, batch_rows: int
) -> tuple[int, int, bool] | None:
    """The next batch's first and last minute and whether it ends at the cutoff; None when none is left.

    Both lookups walk the (granularity, rolled, bucket) index from the mark: the first minute, then the
    minute of the batch_rows-th row from it. The batch takes that minute whole.
    """
    closed = f"{_MINUTES} AND bucket >= :before AND bucket < :cutoff"
    params = {"before": before, "cutoff": cutoff}
    first = conn.execute(sa.text(f"SELECT min(bucket) FROM metrics WHERE {closed}"), params).scalar()
    if first is None:
        return None
    nth = conn.execute(
        sa.text(f"SELECT bucket FROM metrics WHERE {closed} ORDER BY bucket LIMIT 1 OFFSET :n"),
        {**params, "n": batch_rows - 1},
    ).scalar()
    if nth is None:
        return int(first), cutoff - 1, True
    return int(first), int(nth), False


def _summed(conn: sa.Connection, where: str) -> sa.TextClause:
    """The rows matching `where` summed per env, hour and key: counts and size sums added, histograms
    concatenated. Columns in hourly.Groups.from_rows' order."""
    hour = f"bucket / {HOUR} * {HOUR}"
    if conn.dialect.name == "postgresql":
        sums = "sum(request_count)::bigint, sum(request_size_sum)::bigint, sum(response_size_sum)::bigint"
        joined = (
            "string_agg(response_times, ','), string_agg(request_sizes, ','), string_agg(response_sizes, ',')"
        )
    else:
        sums = "sum(request_count), sum(request_size_sum), sum(response_size_sum)"
        joined = (
            "group_concat(response_times, ','), group_concat(request_sizes, ','),"
            " group_concat(response_sizes, ',')"
        )
    return sa.text(
        f"SELECT {_KEY}, {hour} AS hour, count(*), {sums}, {joined} FROM metrics WHERE {where}"
        f" GROUP BY {_KEY}, hour"
    )
