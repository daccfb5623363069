"""Spans per env, UTC hour, name and duration bin (tables.span_hours): added to as span_records are appended.

The traces view counts the spans of a range per (name, bin); over days that is every span row. These rows
hold one count per hour instead: a range is read from them for its whole hours and from span_records for
the minutes at its edges, so the counts are exactly those of span_records. Retention deletes both before
the same hour boundary (`retention_cutoff`), so every hour kept here counts all the spans kept of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.storage import bulk
from tallyhub.storage.database import Database
from tallyhub.storage.tables import HOUR, envs, span_hours, span_records

_KEYS = ("env_id", "bucket", "name", "duration_bin")


def hour_of(timestamp: float) -> int:
    """The start of the UTC hour holding `timestamp` (an exact floor, as the edges' comparisons are)."""
    return int(timestamp // HOUR) * HOUR


def add(conn: sa.Connection, env_id: int, rows: Iterable[Sequence[Any]]) -> None:
    """Count these span rows (ingest.log_records' SPAN_COLUMNS without env_id) into their hours."""
    sums: dict[tuple[int, int, str, int], int] = {}
    for timestamp, _uuid, _trace_id, name, _duration_ms, duration_bin in rows:
        key = (env_id, hour_of(timestamp), name, duration_bin)
        sums[key] = sums.get(key, 0) + 1
    bulk.add_into(conn, span_hours, _KEYS, ("spans",), [(*key, n) for key, n in sorted(sums.items())])


def retention_cutoff(cutoff: float) -> int:
    """Where span_records and span_hours are both cut: the hour boundary at or before `cutoff`."""
    return hour_of(cutoff)


def delete_before(db: Database, cutoff: int) -> int:
    """Delete the hours before `cutoff` (a retention_cutoff): per env, so each lookup and delete walks the
    key's (env_id, bucket) prefix, and a day of hours per transaction."""
    deleted = 0
    with db.read() as conn:
        env_ids = conn.execute(sa.select(envs.c.id)).scalars().all()
    for env_id in env_ids:
        of_env = span_hours.c.env_id == env_id
        while True:
            with db.write() as conn:
                oldest = conn.execute(sa.select(sa.func.min(span_hours.c.bucket)).where(of_env)).scalar()
                if oldest is None or oldest >= cutoff:
                    break
                end = min(int(oldest) + 24 * HOUR, cutoff)
                deleted += conn.execute(span_hours.delete().where(of_env, span_hours.c.bucket < end)).rowcount
    return deleted


def _whole_hours(start: float, end: float) -> tuple[int, int]:
    # Integers: on PostgreSQL a float bound would compare the bigint bucket as float, past its index.
    return int(-(-start // HOUR)) * HOUR, hour_of(end)


def counts(
    conn: sa.Connection, env_ids: Sequence[int], start: float, end: float
) -> Mapping[tuple[str, int], int]:
    """Spans of the envs over [start, end) per (name, bin): whole hours from here, edges from the spans."""
    first, last = _whole_hours(start, end)
    edges = [(start, end)] if first >= last else [(start, first), (last, end)]
    out: dict[tuple[str, int], int] = {}
    s = span_records.c
    queries = [
        sa.select(s.name, s.duration_bin, sa.func.count())
        .where(s.env_id.in_(env_ids), s.timestamp >= lo, s.timestamp < hi)
        .group_by(s.name, s.duration_bin)
        for lo, hi in edges
        if lo < hi
    ]
    if first < last:
        h = span_hours.c
        queries.append(
            sa.select(h.name, h.duration_bin, sa.func.sum(h.spans))
            .where(h.env_id.in_(env_ids), h.bucket >= first, h.bucket < last)
            .group_by(h.name, h.duration_bin)
        )
    for query in queries:
        for name, duration_bin, n in conn.execute(query):
            out[(name, duration_bin)] = out.get((name, duration_bin), 0) + int(n)
    return out
