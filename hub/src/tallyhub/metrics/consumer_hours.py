"""Per-consumer hourly totals (tables.consumer_hours): kept at ingestion, read by consumer lists and charts.

Consumer lists sort every consumer of an app by its requests or errors over a range, and the activity
chart counts consumers per bucket. Summing the per-status metric rows of 100,000 consumers (hour rows
plus unrolled minutes) for that took most of a page's time; these rows hold one pair of counts per env,
hour and consumer instead. A range is read from them for its whole hours and from the per-consumer minute
rows at its edges (a minute range not on hour boundaries), so answers stay exact. `covers` says when
they can answer: no endpoint or status filter (they have neither dimension), at least one whole hour, and
every selected env's `consumer_hours_since` at or before the range's first whole hour. Their errors count
every status >= 400; an endpoint's expected statuses (successes) are taken back off from the metric rows of
just those endpoints and statuses (reads.expected_consumer_rows), so lists with expected statuses set are
read from here too (they fell back to summing every metric row of the range; at 100k consumers with 404
expected on one endpoint, the list by errors took 208 -> 100-104 ms of SQLite CPU, by requests about the
same as before, 96-99 -> 90-124, at load 12-13).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.metrics import reads
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.storage import bulk
from tallyhub.storage.database import Database
from tallyhub.storage.tables import (
    HOUR,
    LEVEL_CONSUMER_TOTAL,
    MINUTE,
    NO_ID,
    consumer_hours,
    consumers,
    envs,
    metrics,
)

_KEYS = ("env_id", "bucket", "consumer_id")
_COUNTS = ("requests", "errors")
_DELETE_HOURS = 24  # hours of rows deleted per transaction by retention


def add_minute_rows(conn: sa.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Add the level-3 rows among these metric rows (metrics.rows.COLUMNS order) into their hours."""
    sums: dict[tuple[int, int, int], list[int]] = {}
    for row in rows:
        # Indexed rather than unpacked: most rows are of other levels, and this runs for every row.
        if row[3] != LEVEL_CONSUMER_TOTAL or row[5] == NO_ID:
            continue
        bucket, count = row[2], row[7]
        key = (row[0], bucket - bucket % HOUR, row[5])
        total = sums.get(key)
        if total is None:
            total = sums[key] = [0, 0]
        total[0] += count
        if row[6] >= 400:
            total[1] += count
    bulk.add_into(
        conn, consumer_hours, _KEYS, _COUNTS, [(*key, *counts) for key, counts in sorted(sums.items())]
    )
    _note_first_active(conn, sums)


_UPDATE_CHUNK = 500  # ids per UPDATE (SQLite's bound-parameter limit)


def _note_first_active(conn: sa.Connection, sums: dict[tuple[int, int, int], list[int]]) -> None:
    """Lower consumers.first_active_hour to the earliest of these hours where it is later or unset."""
    per_hour: dict[int, set[int]] = {}
    for _env_id, hour, consumer_id in sums:
        per_hour.setdefault(hour, set()).add(consumer_id)
    for hour, ids in sorted(per_hour.items()):
        ordered = sorted(ids)
        for i in range(0, len(ordered), _UPDATE_CHUNK):
            conn.execute(_FIRST_ACTIVE, {"ids": ordered[i : i + _UPDATE_CHUNK], "hour": hour})


# Built once: constructing this UPDATE cost several times what running it does, once per write transaction.
_FIRST_ACTIVE = (
    consumers.update()
    .where(
        consumers.c.id.in_(sa.bindparam("ids", expanding=True)),
        sa.or_(
            consumers.c.first_active_hour.is_(None),
            consumers.c.first_active_hour > sa.bindparam("hour", type_=sa.BigInteger),
        ),
    )
    .values(first_active_hour=sa.bindparam("hour", type_=sa.BigInteger))
)


def apply_retention(db: Database, cutoff: float) -> int:
    """Delete the hours before `cutoff` (as metric hour rows are) and move every env's coverage past them."""
    since = -int(-cutoff // HOUR) * HOUR
    deleted = 0
    with db.read() as conn:
        env_ids = conn.execute(sa.select(envs.c.id)).scalars().all()
    for env_id in env_ids:  # per env, so each lookup and delete walks the key's (env_id, bucket) prefix
        of_env = consumer_hours.c.env_id == env_id
        while True:
            with db.write() as conn:
                oldest = conn.execute(sa.select(sa.func.min(consumer_hours.c.bucket)).where(of_env)).scalar()
                if oldest is None or oldest >= since:
                    break
                end = min(int(oldest) + _DELETE_HOURS * HOUR, since)
                deleted += conn.execute(
                    consumer_hours.delete().where(of_env, consumer_hours.c.bucket < end)
                ).rowcount
    with db.write() as conn:
        conn.execute(
            envs.update().where(envs.c.consumer_hours_since < since).values(consumer_hours_since=since)
        )
    return deleted


def _whole_hours(tr: TimeRange) -> tuple[int, int]:
    return -(-tr.start // HOUR) * HOUR, tr.end // HOUR * HOUR


def covers(conn: sa.Connection, resolved: Selection, tr: TimeRange) -> bool:
    """Whether these rows (with minute rows at the edges) hold every request that `resolved` and tr select."""
    if resolved.endpoint_ids is not None or resolved.status_range is not None or not resolved.env_ids:
        return False
    first, end = _whole_hours(tr)
    if first >= end:
        return False
    since = conn.execute(
        sa.select(sa.func.max(envs.c.consumer_hours_since)).where(envs.c.id.in_(resolved.env_ids))
    ).scalar()
    return since is not None and int(since) <= first


def _hours(
    resolved: Selection,
    first: int,
    end: int,
    *columns: Any,
    among: sa.Select | None = None,
    errors_only: bool = False,
) -> sa.Select:
    query = sa.select(*columns).where(
        consumer_hours.c.env_id.in_(resolved.env_ids),
        consumer_hours.c.bucket >= first,
        consumer_hours.c.bucket < end,
    )
    if resolved.consumer_ids is not None:
        query = query.where(consumer_hours.c.consumer_id.in_(resolved.consumer_ids))
    if among is not None:
        query = query.where(consumer_hours.c.consumer_id.in_(among))
    if errors_only:
        query = query.where(consumer_hours.c.errors > 0)
    return query


def _edge_minutes(
    resolved: Selection, tr: TimeRange, among: sa.Select | None = None, errors_only: bool = False
) -> list[sa.Select]:
    """Per-consumer minute rows of the range outside its whole hours (consumer_id, requests, errors)."""
    first, end = _whole_hours(tr)
    queries = []
    for start, stop in ((tr.start, first), (end, tr.end)):
        if start >= stop:
            continue
        query = sa.select(
            metrics.c.consumer_id,
            metrics.c.request_count,
            sa.case((metrics.c.status_code >= 400, metrics.c.request_count), else_=0),
        ).where(
            metrics.c.env_id.in_(resolved.env_ids),
            metrics.c.granularity == MINUTE,
            metrics.c.level == LEVEL_CONSUMER_TOTAL,
            metrics.c.bucket >= start,
            metrics.c.bucket < stop,
            metrics.c.consumer_id != NO_ID,
        )
        if resolved.consumer_ids is not None:
            query = query.where(metrics.c.consumer_id.in_(resolved.consumer_ids))
        if among is not None:
            query = query.where(metrics.c.consumer_id.in_(among))
        if errors_only:
            query = query.where(metrics.c.status_code >= 400)
        queries.append(query)
    return queries


def _expected(resolved: Selection, tr: TimeRange, among: sa.Select | None) -> list[sa.Select]:
    """The expected statuses' rows of tr (consumer_id, 0, -requests): their errors taken back off."""
    parts = reads.expected_consumer_rows(resolved, tr)
    if among is not None:
        parts = [part.where(metrics.c.consumer_id.in_(among)) for part in parts]
    return parts


# Enough for a hash aggregate and sort of 100,000 consumers' totals (about 15 MB) without spilling to disk.
_SUM_WORK_MEM = "32MB"


def with_room_to_sum(conn: sa.Connection) -> None:
    """On PostgreSQL, raise work_mem for the rest of this connection's transaction (SET LOCAL: the read
    ends with it): the default 4 MB sent the per-consumer sums of a 100k-consumer app to disk."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{_SUM_WORK_MEM}'")


def totals(
    resolved: Selection, tr: TimeRange, among: sa.Select | None = None, errors_only: bool = False
) -> sa.Subquery:
    """consumer_id, requests, errors over tr for each consumer with requests (the caller checked `covers`),
    of the consumers whose ids `among` selects if given (the groups' consumers: a tenth of 100,000 consumers
    to group and sort instead of all of them).

    errors_only=True sums only the rows with errors: each consumer with errors gets its exact error count,
    and requests that leave out its rows without errors; consumers without errors are left out. For a sort
    by errors, which needs nothing else (a quarter of the 100k case's consumers have errors)."""
    first, end = _whole_hours(tr)
    c = consumer_hours.c
    edges = _edge_minutes(resolved, tr, among, errors_only) + _expected(resolved, tr, among)
    if not edges:
        query = _hours(
            resolved,
            first,
            end,
            c.consumer_id,
            sa.func.sum(c.requests).label("requests"),
            sa.func.sum(c.errors).label("errors"),
            among=among,
            errors_only=errors_only,
        ).group_by(c.consumer_id)
        return query.subquery("consumer_totals")
    hours = _hours(
        resolved, first, end, c.consumer_id, c.requests, c.errors, among=among, errors_only=errors_only
    )
    parts = sa.union_all(hours, *edges).subquery("consumer_rows")
    cols = list(parts.c)
    return (
        sa.select(
            cols[0].label("consumer_id"),
            sa.func.sum(cols[1]).label("requests"),
            sa.func.sum(cols[2]).label("errors"),
        )
        .group_by(cols[0])
        .subquery("consumer_totals")
    )


def active_per_bucket(conn: sa.Connection, resolved: Selection, tr: TimeRange, step: int) -> dict[int, int]:
    """Consumers with requests per bucket start of `step` (HOUR or DAY) in an hour-aligned tr."""
    c = consumer_hours.c
    bucket = c.bucket if step == HOUR else c.bucket - c.bucket % step
    # One row per env, hour and consumer: counted DISTINCT only when rows of several can meet.
    distinct = len(resolved.env_ids) > 1 or step != HOUR
    counted = sa.func.count(sa.distinct(c.consumer_id)) if distinct else sa.func.count()
    query = _hours(resolved, tr.start, tr.end, bucket.label("b"), counted).group_by(bucket)
    return {int(b): int(n) for b, n in conn.execute(query)}


def earliest(resolved: Selection, tr: TimeRange, step: int) -> sa.Subquery:
    """consumer_id and its earliest bucket start (of `step`) with requests in tr."""
    c = consumer_hours.c
    first: sa.ColumnElement[int] = sa.func.min(c.bucket)
    if step != HOUR:
        first = first - first % step
    return (
        _hours(resolved, tr.start, tr.end, c.consumer_id, first.label("earliest"))
        .group_by(c.consumer_id)
        .subquery("earliest")
    )


def _app_of_all_envs(conn: sa.Connection, resolved: Selection) -> int | None:
    """The app's id when `resolved` selects every env of its app (consumers.first_active_hour is app-wide)."""
    app_id = conn.execute(sa.select(envs.c.app_id).where(envs.c.id == resolved.env_ids[0])).scalar()
    if app_id is None:
        return None
    of_app = set(conn.execute(sa.select(envs.c.id).where(envs.c.app_id == app_id)).scalars())
    return int(app_id) if of_app == set(resolved.env_ids) else None


def new_per_bucket(
    conn: sa.Connection, resolved: Selection, tr: TimeRange, step: int
) -> dict[int, int] | None:
    """Consumers per bucket (of `step`) that are new there: their earliest bucket with requests in tr, first
    seen no earlier than its start. None when `resolved` does not select every env of the app.

    Read from consumers.first_active_hour (the earliest hour with requests of any env): a consumer whose
    first active hour is in tr has its earliest bucket there, so these are counted from the index on
    (app_id, first_active_hour, first_seen). Only those first active before tr yet first seen since its
    first bucket's start can still be new (first seen after their first requests: the sync came later); their
    earliest bucket is read from their hours.
    """
    app_id = _app_of_all_envs(conn, resolved)
    if app_id is None:
        return None
    fa = consumers.c.first_active_hour
    bucket = fa if step == HOUR else fa - fa % step
    query = sa.select(fa, sa.func.count()).where(
        consumers.c.app_id == app_id,
        fa >= tr.start,
        fa < tr.end,
        consumers.c.first_seen >= bucket,
    )
    if resolved.consumer_ids is not None:
        query = query.where(consumers.c.id.in_(resolved.consumer_ids))
    # Grouped per hour, in the index's order (no sort), and the hours added into their buckets here: grouping
    # by day in SQL sorted 100,000 consumers (16 -> 7 ms of SQLite CPU for a 7 d chart).
    new: dict[int, int] = {}
    for hour, n in conn.execute(query.group_by(fa)):
        new[int(hour) - int(hour) % step] = new.get(int(hour) - int(hour) % step, 0) + int(n)
    late = sa.select(consumers.c.id).where(
        consumers.c.app_id == app_id,
        fa < tr.start,
        consumers.c.first_seen >= tr.start - tr.start % step,
    )
    if resolved.consumer_ids is not None:
        late = late.where(consumers.c.id.in_(resolved.consumer_ids))
    # Usually there are none (a sync that came after its requests' hour): asked first from the index, so that
    # the range's hours (100,000 consumers' of them) are not scanned for nobody (13 ms of SQLite CPU).
    if conn.execute(late.limit(1)).first() is None:
        return new
    c = consumer_hours.c
    first: sa.ColumnElement[int] = sa.func.min(c.bucket)
    if step != HOUR:
        first = first - first % step
    earliest_of_late = (
        _hours(resolved, tr.start, tr.end, c.consumer_id, first.label("earliest"))
        .where(c.consumer_id.in_(late.scalar_subquery()))
        .group_by(c.consumer_id)
        .subquery("earliest")
    )
    counted = (
        sa.select(earliest_of_late.c.earliest, sa.func.count())
        .select_from(earliest_of_late.join(consumers, consumers.c.id == earliest_of_late.c.consumer_id))
        .where(consumers.c.first_seen >= earliest_of_late.c.earliest)
        .group_by(earliest_of_late.c.earliest)
    )
    for b, n in conn.execute(counted):
        new[int(b)] = new.get(int(b), 0) + int(n)
    return new
