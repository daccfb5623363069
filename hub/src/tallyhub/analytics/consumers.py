"""Consumers of an app with their statistics, and the edits a person makes to their name and group."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from tallyhub.analytics import count_order
from tallyhub.analytics.paging import Page
from tallyhub.analytics.times import iso
from tallyhub.metrics import consumer_hours
from tallyhub.metrics import reads as metrics
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.metrics.tally import Tally
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, MINUTE, NO_ID, consumers

_COLUMNS = (
    consumers.c.id,
    consumers.c.identifier,
    consumers.c.name,
    consumers.c.group_name,
    consumers.c.first_seen,
    consumers.c.last_seen,
    consumers.c.attributes,
)


def _describe(row: sa.Row) -> dict[str, Any]:
    return {
        "identifier": row.identifier,
        "name": row.name,
        "group": row.group_name,
        "first_seen": iso(row.first_seen),
        "last_seen": iso(row.last_seen),
        "attributes": row.attributes or {},
    }


CONSUMER_SORTS = ("requests", "errors", "identifier", "name", "group", "first_seen", "last_seen")
GROUP_SORTS = ("requests", "errors", "consumers", "name")


def _filtered(query: sa.Select, app_id: int, resolved: Selection) -> sa.Select:
    query = query.where(consumers.c.app_id == app_id)
    if resolved.consumer_ids is not None:
        query = query.where(consumers.c.id.in_(resolved.consumer_ids))
    return query


def _totals(
    conn: sa.Connection,
    resolved: Selection,
    tr: TimeRange,
    among: sa.Select | None = None,
    errors_only: bool = False,
) -> sa.Subquery | None:
    """Per consumer with requests over tr: consumer_id, requests, errors (None if none can match): from the
    per-consumer hours where they cover tr (only the consumers `among` selects, if given; with errors_only,
    only consumers with errors, their requests partial: see consumer_hours.totals), else from the metric
    rows (an endpoint or status filter)."""
    consumer_hours.with_room_to_sum(conn)  # either way, one sum per consumer: 100,000 of them
    if consumer_hours.covers(conn, resolved, tr):
        return consumer_hours.totals(resolved, tr, among, errors_only)
    return metrics.consumer_totals(resolved, tr)


def _with_totals(
    conn: sa.Connection,
    query: sa.Select,
    resolved: Selection,
    tr: TimeRange,
    among: sa.Select | None = None,
    errors_only: bool = False,
) -> tuple[sa.Select, sa.ColumnElement[int], sa.ColumnElement[int]]:
    """The query over consumers joined to their request and error counts over tr (0 without requests);
    `among` and errors_only may narrow the counting (see _totals)."""
    totals = _totals(conn, resolved, tr, among, errors_only)
    if totals is None:
        zero = sa.literal(0, sa.Integer)
        return query.select_from(consumers), zero, zero
    joined = consumers.outerjoin(totals, totals.c.consumer_id == consumers.c.id)
    requests = sa.func.coalesce(totals.c.requests, 0)
    errors = sa.func.coalesce(totals.c.errors, 0)
    return query.select_from(joined), requests, errors


def _ordered(column: sa.ColumnElement[Any], desc: bool) -> sa.ColumnElement[Any]:
    ordered = column.desc() if desc else column.asc()
    # NULLS LAST only where there can be nulls: spelled on a NOT NULL column, it keeps PostgreSQL from
    # reading an index in order (ix_consumers_app_id_last_seen for the sort by last seen).
    nullable = not isinstance(column, sa.Column) or column.nullable
    return ordered.nulls_last() if nullable else ordered


def list_consumers(
    conn: sa.Connection,
    app_id: int,
    resolved: Selection,
    tr: TimeRange,
    apdex_t: int,
    page: Page,
    with_histograms: bool = True,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the app's consumers (in the group, if filtered) and how many there are in all.

    Sorted in SQL (by requests or errors over tr, or a consumer column; then by identifier), so only
    the page's consumers are read with their statistics. with_histograms=False leaves percentiles,
    mean sizes and Apdex out (None): for counts-only views.
    """
    total = conn.execute(_filtered(sa.select(sa.func.count()).select_from(consumers), app_id, resolved))
    count = int(total.scalar_one())
    columns: dict[str, sa.ColumnElement[Any]] = {
        "identifier": consumers.c.identifier,
        "name": consumers.c.name,
        "group": consumers.c.group_name,
        "first_seen": consumers.c.first_seen,
        "last_seen": consumers.c.last_seen,
    }
    filtered = _filtered(sa.select(consumers.c.id), app_id, resolved)
    if page.sort in columns:  # sorted by a column of its own: only the page's metric rows are read
        # Sorted as ids only, then the page's rows read: sorting 100,000 whole rows (names, attributes)
        # cost more.
        by = filtered.order_by(_ordered(columns[page.sort], page.desc), consumers.c.identifier)
        ids = list(conn.execute(by.limit(page.limit).offset(page.offset)).scalars())
    else:
        # Sorted by errors, only the hours with errors are summed: consumers without any rank as zeros.
        totals = _totals(conn, resolved, tr, errors_only=page.sort == "errors")
        if totals is None:  # no consumer can have requests: all by identifier
            idle = filtered.order_by(consumers.c.identifier)
            ids = list(conn.execute(idle.limit(page.limit).offset(page.offset)).scalars())
        else:
            key = totals.c.requests if page.sort == "requests" else totals.c.errors
            if conn.dialect.name == "sqlite" or consumer_hours.covers(conn, resolved, tr):
                ids = count_order.page_ids(conn, filtered, totals, key, page, count)
            else:
                ids = _outer_joined(conn, filtered, totals, key, page)
    found = {row.id: row for row in conn.execute(sa.select(*_COLUMNS).where(consumers.c.id.in_(ids)))}
    rows = [found[i] for i in ids]
    on_page = dataclasses.replace(resolved, consumer_ids=tuple(row.id for row in rows))
    per_consumer = metrics.tallies(conn, on_page, tr, "consumer", with_histograms) if rows else {}
    listed = [
        {**_describe(row), **per_consumer.get(row.id, Tally()).stats(apdex_t), "id": row.id} for row in rows
    ]
    return listed, count


def _outer_joined(
    conn: sa.Connection, filtered: sa.Select, totals: sa.Subquery, key: sa.ColumnElement[int], page: Page
) -> list[int]:
    """The page's ids from every consumer outer-joined to its total, sorted by it then identifier: on
    PostgreSQL from the metric rows (a union), where the totals sorted first (count_order) lose. It
    under-estimates the consumers with a count (67 for 100,000) and looks each one up in a nested loop:
    550 ms for an endpoint's top 10 at 100k consumers, against 235 ms for its hash outer join."""
    joined = consumers.outerjoin(totals, totals.c.consumer_id == consumers.c.id)
    by = _ordered(sa.func.coalesce(key, 0), page.desc)
    query = filtered.select_from(joined).order_by(by, consumers.c.identifier)
    return list(conn.execute(query.limit(page.limit).offset(page.offset)).scalars())


def list_groups(
    conn: sa.Connection, app_id: int, resolved: Selection, tr: TimeRange, page: Page
) -> tuple[list[dict[str, Any]], int]:
    """A page of the app's consumer groups (consumers, requests and errors over tr) and how many there are."""
    named = consumers.c.group_name.is_not(None)
    total = conn.execute(
        _filtered(sa.select(sa.func.count(sa.distinct(consumers.c.group_name))), app_id, resolved).where(
            named
        )
    )
    count = int(total.scalar_one())
    # Only consumers in a group are counted (one in ten of the 100k-consumer case: its groups page's sums
    # took 68 -> 21 ms of SQLite CPU).
    grouped = _filtered(sa.select(consumers.c.id), app_id, resolved).where(named)
    query, requests, errors = _with_totals(conn, sa.select(consumers.c.group_name), resolved, tr, grouped)
    summed = {
        "requests": sa.func.sum(requests).label("requests"),
        "errors": sa.func.sum(errors).label("errors"),
        "consumers": sa.func.count(consumers.c.id).label("consumers"),
    }
    by = {**summed, "name": consumers.c.group_name}[page.sort]
    query = (
        _filtered(query.add_columns(*summed.values()), app_id, resolved)
        .where(named)
        .group_by(consumers.c.group_name)
        .order_by(_ordered(by, page.desc), consumers.c.group_name)
        .limit(page.limit)
        .offset(page.offset)
    )
    listed = [
        {
            "name": row.group_name,
            "consumers": int(row.consumers),
            "requests": int(row.requests or 0),
            "errors": int(row.errors or 0),
        }
        for row in conn.execute(query)
    ]
    return listed, count


def get_consumer(conn: sa.Connection, app_id: int, identifier: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(*_COLUMNS).where(consumers.c.app_id == app_id, consumers.c.identifier == identifier)
    ).first()
    return _describe(row) if row is not None else None


def update_consumer(
    db: Database, app_id: int, identifier: str, changes: dict[str, str | None]
) -> dict[str, Any] | None:
    """Set name and/or group as a person chose them ("" or None clears); None if there is no such consumer.

    The *_set_by_user flags make ingestion keep these values over what clients send.
    """
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = changes["name"] or None
        values["name_set_by_user"] = True
    if "group" in changes:
        values["group_name"] = changes["group"] or None
        values["group_set_by_user"] = True
    where = (consumers.c.app_id == app_id, consumers.c.identifier == identifier)
    with db.write() as conn:
        if values:
            conn.execute(consumers.update().where(*where).values(**values))
        return get_consumer(conn, app_id, identifier)


def activity(
    conn: sa.Connection, resolved: Selection, tr: TimeRange, by_day: bool = False
) -> list[dict[str, Any]]:
    """Per bucket of tr (UTC days with by_day): consumers with requests, split into new and returning.

    A consumer is new in its earliest bucket with requests in the range when it was first seen no
    earlier than that bucket's start; in every other bucket where it has requests it is returning.
    Counted in SQL: the range may hold 100,000 consumers.
    """
    step = DAY if by_day else tr.step
    if tr.step != MINUTE and consumer_hours.covers(conn, resolved, tr):
        active = consumer_hours.active_per_bucket(conn, resolved, tr, step)
        from_first_hours = consumer_hours.new_per_bucket(conn, resolved, tr, step)
        if from_first_hours is not None:
            new = from_first_hours
        else:  # some of the app's envs only: their earliest hours, grouped per consumer
            new = _new_per_bucket(conn, consumer_hours.earliest(resolved, tr, step))
    else:
        active, new = _activity_from_metrics(conn, resolved, tr, by_day)
    starts = range(tr.start - tr.start % DAY, tr.end, DAY) if by_day else tr.buckets()
    return [
        {"time": iso(b), "new": new.get(b, 0), "returning": active.get(b, 0) - new.get(b, 0)} for b in starts
    ]


def _new_per_bucket(conn: sa.Connection, earliest: sa.Subquery) -> dict[int, int]:
    """Consumers per earliest bucket (consumer_id, earliest) that were first seen no earlier than it."""
    first = (
        sa.select(earliest.c.earliest, sa.func.count())
        .select_from(earliest.join(consumers, consumers.c.id == earliest.c.consumer_id))
        .where(consumers.c.first_seen >= earliest.c.earliest)
        .group_by(earliest.c.earliest)
    )
    return {int(b): int(n) for b, n in conn.execute(first)}


def _activity_from_metrics(
    conn: sa.Connection, resolved: Selection, tr: TimeRange, by_day: bool
) -> tuple[dict[int, int], dict[int, int]]:
    """(consumers with requests, new consumers) per bucket, from the metric rows (any filter and range)."""
    buckets = metrics.consumer_buckets(resolved, tr, by_day)
    if buckets is None:
        return {}, {}
    # Two scans, each grouped once (a join of the per-bucket rows with themselves costs far more):
    # consumers with requests per bucket, and per consumer its earliest bucket, new if first seen since.
    with_consumer = buckets.c.consumer_id != NO_ID
    per_bucket = (
        sa.select(buckets.c.bucket, sa.func.count(sa.distinct(buckets.c.consumer_id)))
        .where(with_consumer)
        .group_by(buckets.c.bucket)
    )
    active = {int(b): int(n) for b, n in conn.execute(per_bucket)}
    earliest = (
        sa.select(buckets.c.consumer_id, sa.func.min(buckets.c.bucket).label("earliest"))
        .where(with_consumer)
        .group_by(buckets.c.consumer_id)
        .subquery("earliest")
    )
    return active, _new_per_bucket(conn, earliest)


def sparklines(
    conn: sa.Connection, resolved: Selection, tr: TimeRange, consumer_ids: list[int], by_day: bool = False
) -> dict[int, list[int]]:
    """Requests per bucket of tr (or UTC day; oldest first) for each of these consumer ids with requests."""
    if not consumer_ids:
        return {}
    on_page = dataclasses.replace(resolved, consumer_ids=tuple(consumer_ids))
    per = metrics.consumer_bucket_tallies(conn, on_page, tr, by_day=by_day)
    starts = range(tr.start - tr.start % DAY, tr.end, DAY) if by_day else tr.buckets()
    return {cid: [t.requests if (t := tallies.get(b)) else 0 for b in starts] for cid, tallies in per.items()}


def group_names(conn: sa.Connection, app_id: int) -> list[str]:
    """The distinct group names of the app's consumers, sorted."""
    rows = conn.execute(
        sa.select(consumers.c.group_name)
        .where(consumers.c.app_id == app_id, consumers.c.group_name.is_not(None))
        .distinct()
    ).scalars()
    return sorted(rows)
