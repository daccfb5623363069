"""Instances' CPU and memory over time: per-minute samples, their rollup into hours and days, reads.

Each sync that reports resources adds a sample to `instance_minutes`, dated to the minute it was
measured (a minute's min/avg/max are over its samples: an instance reports about once a minute). The
rollup folds closed minutes into one row per (env, hour) and (env, day) of `resource_rollups` holding
min, max, sum and count of the samples, and marks them `rolled`: rollup rows plus unrolled minutes hold
every sample once, so a read at hour or day interval is exact whether or not the rollup has run.
Retention follows the metrics' settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.settings import Settings
from tallyhub.storage import bulk
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, instance_minutes, resource_rollups
from tallyhub.storage.upsert import insert_for

BATCH_ROWS = 5000
_ADVISORY_LOCK = 0x7461_6C6C_7265  # "tallre": distinct from the metric rollup's lock
_ROLLUP_KEYS = ("env_id", "granularity", "bucket")

Sample = tuple[float, str, float | None, int | None]  # (at, instance_uuid, cpu_percent, memory_rss)
_MINUTE_COLUMNS = ("env_id", "bucket", "instance_uuid", "cpu_percent", "memory_rss", "rolled")


@dataclasses.dataclass(slots=True)
class Spread:
    """Min, max, sum and count of a figure's samples; None bounds while nothing was counted."""

    low: float | None = None
    high: float | None = None
    total: float = 0.0
    count: int = 0

    def add(self, low: float | None, high: float | None, total: float, count: int) -> None:
        if not count:
            return
        self.low = low if self.low is None or (low is not None and low < self.low) else self.low
        self.high = high if self.high is None or (high is not None and high > self.high) else self.high
        self.total += total
        self.count += count

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclasses.dataclass(slots=True)
class Resources:
    """CPU (percent) and memory (bytes) of an env's instances over one bucket."""

    cpu: Spread = dataclasses.field(default_factory=Spread)
    memory: Spread = dataclasses.field(default_factory=Spread)

    def add_row(self, row: Any) -> None:
        """Add a resource_rollups row, or a row of aggregates with the same column names."""
        self.cpu.add(row.cpu_min, row.cpu_max, float(row.cpu_sum or 0), int(row.cpu_count or 0))
        self.memory.add(
            row.memory_min, row.memory_max, float(row.memory_sum or 0), int(row.memory_count or 0)
        )

    def add_sample(self, cpu: float | None, memory: int | None) -> None:
        if cpu is not None:
            self.cpu.add(cpu, cpu, cpu, 1)
        if memory is not None:
            self.memory.add(memory, memory, memory, 1)


def record(conn: sa.Connection, env_id: int, samples: Sequence[Sample]) -> None:
    """Append each sample that reports a figure as a row of its minute.

    Rows are only ever added: a late sample (a client's retry queue) lands unrolled in an old minute and
    the next rollup adds it to its hour and day, as late metric rows are.
    """
    rows = [
        (env_id, int(at // MINUTE) * MINUTE, u, c, m, False)
        for at, u, c, m in samples
        if c is not None or m is not None
    ]
    bulk.append(conn, instance_minutes, _MINUTE_COLUMNS, rows)


def roll(db: Database, settings: Settings, now: float, batch_rows: int = BATCH_ROWS) -> int:
    """Fold every closed, unrolled minute into its hour and day rows; returns how many minutes it rolled."""
    cutoff = int(now // MINUTE) * MINUTE
    rolled = 0
    while True:
        with db.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
            count = _roll_batch(conn, cutoff, batch_rows)
        rolled += count
        if count < batch_rows:
            return rolled


def _roll_batch(conn: sa.Connection, cutoff: int, batch_rows: int) -> int:
    m = instance_minutes.c
    minutes = conn.execute(
        sa.select(m.id, m.env_id, m.bucket, m.cpu_percent, m.memory_rss)
        .where(m.rolled == sa.false(), m.bucket < cutoff)
        .order_by(m.bucket)
        .limit(batch_rows)
    ).all()
    if not minutes:
        return 0
    targets: dict[tuple[int, int, int], Resources] = {}
    for row in minutes:
        for size in (HOUR, DAY):
            key = (row.env_id, size, row.bucket // size * size)
            targets.setdefault(key, Resources()).add_sample(row.cpu_percent, row.memory_rss)
    r = resource_rollups.c
    for (env_id, size, bucket), resources in targets.items():
        stored = conn.execute(
            sa.select(resource_rollups).where(r.env_id == env_id, r.granularity == size, r.bucket == bucket)
        ).first()
        if stored is not None:
            resources.add_row(stored)
    stmt = insert_for(conn, resource_rollups)
    columns = (
        "cpu_min",
        "cpu_max",
        "cpu_sum",
        "cpu_count",
        "memory_min",
        "memory_max",
        "memory_sum",
        "memory_count",
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_ROLLUP_KEYS), set_={c: stmt.excluded[c] for c in columns}
    )
    conn.execute(
        stmt,
        [
            {
                "env_id": env_id,
                "granularity": size,
                "bucket": bucket,
                "cpu_min": res.cpu.low,
                "cpu_max": res.cpu.high,
                "cpu_sum": res.cpu.total,
                "cpu_count": res.cpu.count,
                "memory_min": _whole(res.memory.low),
                "memory_max": _whole(res.memory.high),
                "memory_sum": int(res.memory.total),
                "memory_count": res.memory.count,
            }
            for (env_id, size, bucket), res in sorted(targets.items())
        ],
    )
    for chunk in _chunks([row.id for row in minutes], 1000):
        conn.execute(instance_minutes.update().where(m.id.in_(chunk)).values(rolled=True))
    return len(minutes)


def apply_retention(db: Database, settings: Settings, now: float) -> int:
    """Delete rolled minutes and rollup rows past the metrics' retention settings; returns how many went."""
    minute_cutoff = now - settings.retention_minute_days * DAY
    deleted = bulk.delete_batched(
        db,
        instance_minutes,
        sa.and_(instance_minutes.c.rolled.is_(True), instance_minutes.c.bucket < minute_cutoff),
    )
    r = resource_rollups.c
    with db.write() as conn:  # a row per env and hour at most: a day of them is a small delete
        for size, keep_days in ((HOUR, settings.retention_hour_days), (DAY, settings.retention_day_days)):
            condition = sa.and_(r.granularity == size, r.bucket < now - keep_days * DAY)
            deleted += conn.execute(resource_rollups.delete().where(condition)).rowcount
    return deleted


def read(
    conn: sa.Connection, env_ids: Sequence[int], start: int, end: int, step: int
) -> dict[tuple[int, int], Resources]:
    """The resources of each (env, bucket of `step` seconds) in [start, end) that has samples."""
    found: dict[tuple[int, int], Resources] = {}
    if not env_ids:
        return found
    m = instance_minutes.c
    bucket = m.bucket if step == MINUTE else (m.bucket - m.bucket % step)
    minutes = sa.select(
        m.env_id,
        bucket.label("bucket"),
        sa.func.min(m.cpu_percent).label("cpu_min"),
        sa.func.max(m.cpu_percent).label("cpu_max"),
        sa.func.sum(m.cpu_percent).label("cpu_sum"),
        sa.func.count(m.cpu_percent).label("cpu_count"),
        sa.func.min(m.memory_rss).label("memory_min"),
        sa.func.max(m.memory_rss).label("memory_max"),
        sa.func.sum(m.memory_rss).label("memory_sum"),
        sa.func.count(m.memory_rss).label("memory_count"),
    ).where(m.env_id.in_(env_ids), m.bucket >= start, m.bucket < end)
    if step != MINUTE:
        minutes = minutes.where(m.rolled == sa.false())  # the rolled ones are in the rollup rows
        r = resource_rollups.c
        for row in conn.execute(
            sa.select(resource_rollups).where(
                r.env_id.in_(env_ids), r.granularity == step, r.bucket >= start, r.bucket < end
            )
        ):
            found.setdefault((row.env_id, row.bucket), Resources()).add_row(row)
    for row in conn.execute(minutes.group_by(m.env_id, bucket)):
        found.setdefault((row.env_id, int(row.bucket)), Resources()).add_row(row)
    return found


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
