"""Time partitions of the big tables on PostgreSQL (declarative partitioning); SQLite has none.

`metrics` is partitioned by LIST (granularity) into metrics_g60, metrics_g3600 and metrics_g86400, each
partitioned by RANGE (bucket) into slices of a fixed width (SLICES): granularities are kept for different
times, so retention drops a granularity's slices whole once they are past its retention instead of
deleting their rows. Slices are named by their first UTC day (metrics_g60_p20261204).

Each range parent has a DEFAULT partition, so an insert never fails for lack of a slice (a sync dated
25 hours back before maintenance created that slice, a clock far ahead). Maintenance creates the slices
ahead of time (`create_ahead`) and adopts what the default holds: the slice is created as a plain table,
the default's rows of its range are moved into it, and it is attached (ATTACH checks the default holds
none of its range any more). The top-level DEFAULT of `metrics` takes a granularity no slice set knows.

Primary keys must include the partition key, so `metrics`' key is (id, granularity, bucket); ids still
come from one sequence, so `id` alone stays unique.

The request logs and the rows that hang off them and share their retention (app_log_records,
span_records) are partitioned by RANGE (timestamp) into day slices (LOG_SLICES, migration 0038): their
retention drops the days wholly past it. Their keys gain the timestamp likewise: request_logs' unique
(env_id, uuid) is (env_id, uuid, timestamp) there, which keeps a retried log file stored once because a
request's timestamp comes from the file itself, the same on every retry (ingest/request_logs.py).
trace_items stays one table: it is read by trace id with no time to bound the read (child spans arrive
before or after their request), so slices would turn each lookup into one probe per day kept.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, UNROLLED_MINUTES

log = logging.getLogger(__name__)

# Slices are created up to this far ahead of the clock (and from this far back: the 25 hours a payload
# may be dated in the past, ingest/window.py, rounded up).
AHEAD_SECONDS = 3 * DAY
BEHIND_SECONDS = 2 * DAY
# A drop waits at most this long for the parent's lock (a long dashboard read holds it); it is then
# left to the next maintenance run rather than queueing every other reader behind it.
DROP_LOCK_TIMEOUT = "5s"
_BOUND = re.compile(r"FROM \('?(-?[0-9.e+]+)'?\) TO \('?(-?[0-9.e+]+)'?\)")


@dataclasses.dataclass(frozen=True)
class Slices:
    """A range-partitioned parent, cut on `column` into slices of `width` seconds (aligned on the epoch)."""

    parent: str
    column: str
    width: int
    # Rows matching this keep their slice from being dropped (minute rows not rolled up yet).
    keep_while: str | None = None

    @property
    def default(self) -> str:
        return f"{self.parent}_default"

    def start_of(self, t: float) -> int:
        return int(t // self.width) * self.width

    def name(self, start: int) -> str:
        return f"{self.parent}_p{datetime.fromtimestamp(start, UTC):%Y%m%d}"


# Minute rows are kept 7 days by default, hour rows 90, day rows 800: a day, a week and four weeks.
METRIC_SLICES = {
    MINUTE: Slices("metrics_g60", "bucket", DAY, keep_while=UNROLLED_MINUTES),
    HOUR: Slices("metrics_g3600", "bucket", 7 * DAY),
    DAY: Slices("metrics_g86400", "bucket", 28 * DAY),
}


# Request logs are kept 15 days by default: a day slice holds a fifteenth of them.
LOG_SLICES = {
    table: Slices(table, "timestamp", DAY) for table in ("request_logs", "app_log_records", "span_records")
}
ALL_SLICES = (*METRIC_SLICES.values(), *LOG_SLICES.values())


def is_partitioned(conn: sa.Connection, table: str) -> bool:
    """Whether `table` is a partitioned table (PostgreSQL after migrations 0030 and 0038)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(
        sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    ).scalar()
    return kind == "p"


def slices_of(conn: sa.Connection, slices: Slices) -> dict[str, tuple[float, float]]:
    """The range partitions of `slices.parent` (the default left out): {name: (from, to)}."""
    # A double precision key's bounds are quoted ('1764806400'), an integer's are not: _BOUND takes both.
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": slices.parent},
    ).all()
    found = {}
    for name, bound in rows:
        match = _BOUND.search(bound)
        if match:
            found[name] = (float(match[1]), float(match[2]))
    return found


def create_slice(conn: sa.Connection, slices: Slices, start: int) -> bool:
    """Create the slice beginning at `start` unless it exists, moving the default's rows of its range in.

    Returns whether it was created. Runs in the caller's transaction.
    """
    end = start + slices.width
    if any(low < end and start < high for low, high in slices_of(conn, slices).values()):
        return False
    name = slices.name(start)
    col = slices.column
    # Writers into the default wait for the move: a row they added after it would fail the ATTACH.
    conn.execute(sa.text(f"LOCK TABLE {slices.default} IN SHARE ROW EXCLUSIVE MODE"))
    conn.execute(sa.text(f"CREATE TABLE {name} (LIKE {slices.parent} INCLUDING DEFAULTS)"))
    conn.execute(
        sa.text(
            f"WITH moved AS (DELETE FROM {slices.default} WHERE {col} >= {start} AND {col} < {end} "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        )
    )
    # ATTACH builds the parent's indexes on the new table and checks its rows against the range.
    conn.execute(
        sa.text(f"ALTER TABLE {slices.parent} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})")
    )
    return True


def slice_starts(slices: Slices, first: float, last: float) -> Iterable[int]:
    """The starts of the slices that together cover [first, last]."""
    return range(slices.start_of(first), slices.start_of(last) + 1, slices.width)


def create_ahead(db: Database, now: float, all_slices: Iterable[Slices] = ALL_SLICES) -> int:
    """Create the slices around `now` and those of whatever rows the defaults hold; returns how many.

    Does nothing where the tables are not partitioned (SQLite).
    """
    created = 0
    for slices in all_slices:
        with db.read() as conn:
            if not is_partitioned(conn, slices.parent):
                continue
        with db.write() as conn:
            held = conn.execute(
                sa.text(
                    f"SELECT DISTINCT floor({slices.column} / {slices.width})::bigint * {slices.width} "
                    f"FROM {slices.default}"
                )
            ).scalars()
            starts = {*slice_starts(slices, now - BEHIND_SECONDS, now + AHEAD_SECONDS), *map(int, held)}
        for start in sorted(starts):
            with db.write() as conn:
                created += create_slice(conn, slices, start)
    return created


def drop_past(db: Database, slices: Slices, cutoff: float) -> int:
    """Drop the slices that end at or before `cutoff` (unless a row matches keep_while); returns how many
    rows went with them. Does nothing where the table is not partitioned (SQLite).

    Rows of a slice only partly past the cutoff are left to the row delete of retention.
    """
    with db.read() as conn:
        if not is_partitioned(conn, slices.parent):
            return 0
        past = sorted(name for name, (_, end) in slices_of(conn, slices).items() if end <= cutoff)
    dropped = 0
    for name in past:
        try:
            with db.write() as conn:
                if slices.keep_while is not None:
                    kept = conn.execute(
                        sa.text(f"SELECT EXISTS (SELECT 1 FROM {name} WHERE {slices.keep_while})")
                    )
                    if kept.scalar():
                        continue
                conn.execute(sa.text(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
                # Counted for retention's figure: an index-only count, far cheaper than deleting the rows.
                rows = conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
                conn.execute(sa.text(f"DROP TABLE {name}"))
        except sa.exc.OperationalError as error:  # the lock timeout: the next run tries again
            log.warning("partition %s not dropped yet: %s", name, error.orig)
            continue
        log.info("dropped partition %s (%d rows past retention)", name, rows)
        dropped += rows
    return dropped
