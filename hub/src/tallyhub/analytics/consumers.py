"""Consumers of an app with their statistics, and the edits a person makes to their name and group."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.timerange import iso
from tallyhub.metrics import reads as metrics
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.metrics.tally import Tally
from tallyhub.storage.database import Database
from tallyhub.storage.tables import consumers

_COLUMNS = (
    consumers.c.id,
    consumers.c.identifier,
    consumers.c.name,
    consumers.c.group_name,
    consumers.c.first_seen,
    consumers.c.last_seen,
)


def _describe(row: sa.Row) -> dict[str, Any]:
    return {
        "identifier": row.identifier,
        "name": row.name,
        "group": row.group_name,
        "first_seen": iso(row.first_seen),
        "last_seen": iso(row.last_seen),
    }


def list_consumers(
    conn: sa.Connection,
    app_id: int,
    resolved: Selection,
    tr: TimeRange,
    apdex_t: int,
    with_histograms: bool = True,
    per_consumer: dict[int, Tally] | None = None,
) -> list[dict[str, Any]]:
    """Every consumer of the app (in the group, if filtered), busiest first, then by identifier.

    with_histograms=False leaves percentiles, mean sizes and Apdex out (None): for counts-only views.
    `per_consumer` = tallies per consumer id over `tr` when the caller has them already.
    """
    query = sa.select(*_COLUMNS).where(consumers.c.app_id == app_id)
    if resolved.consumer_ids is not None:
        query = query.where(consumers.c.id.in_(resolved.consumer_ids))
    rows = conn.execute(query).all()
    if per_consumer is None:
        per_consumer = metrics.tallies(conn, resolved, tr, "consumer", with_histograms) if rows else {}
    listed = [{**_describe(row), **per_consumer.get(row.id, Tally()).stats(apdex_t)} for row in rows]
    listed.sort(key=lambda c: (-c["requests"], c["identifier"]))
    return listed


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
    conn: sa.Connection, resolved: Selection, tr: TimeRange, counts: dict[int, dict[int, int]] | None = None
) -> list[dict[str, Any]]:
    """Per bucket of the range: consumers with requests, split into new and returning.

    A consumer is new in its earliest bucket with requests in the range when it was first seen no
    earlier than that bucket's start; in every other bucket where it has requests it is returning.
    `counts` = metrics.consumer_counts(conn, resolved, tr), when the caller has it already.
    """
    if counts is None:
        counts = metrics.consumer_counts(conn, resolved, tr)
    first_seen: dict[int, float] = {}
    if counts:
        rows = conn.execute(
            sa.select(consumers.c.id, consumers.c.first_seen).where(consumers.c.id.in_(list(counts)))
        )
        first_seen = {int(i): float(seen) for i, seen in rows}
    new: dict[int, int] = {}
    returning: dict[int, int] = {}
    for consumer_id, per_bucket in counts.items():
        if consumer_id not in first_seen:  # requests without a consumer (NO_ID)
            continue
        earliest = min(per_bucket)
        for bucket in per_bucket:
            is_new = bucket == earliest and first_seen[consumer_id] >= bucket
            target = new if is_new else returning
            target[bucket] = target.get(bucket, 0) + 1
    return [{"time": iso(b), "new": new.get(b, 0), "returning": returning.get(b, 0)} for b in tr.buckets()]


def sparklines(
    conn: sa.Connection,
    app_id: int,
    resolved: Selection,
    tr: TimeRange,
    counts: dict[int, dict[int, int]] | None = None,
) -> dict[str, list[int]]:
    """Requests per bucket of the range (oldest first) for each consumer identifier with requests."""
    if counts is None:
        counts = metrics.consumer_counts(conn, resolved, tr)
    if not counts:
        return {}
    names = dict(
        conn.execute(
            sa.select(consumers.c.id, consumers.c.identifier).where(
                consumers.c.app_id == app_id, consumers.c.id.in_(list(counts))
            )
        ).all()
    )
    buckets = tr.buckets()
    return {names[cid]: [per.get(b, 0) for b in buckets] for cid, per in counts.items() if cid in names}


def group_names(conn: sa.Connection, app_id: int) -> list[str]:
    """The distinct group names of the app's consumers, sorted."""
    rows = conn.execute(
        sa.select(consumers.c.group_name)
        .where(consumers.c.app_id == app_id, consumers.c.group_name.is_not(None))
        .distinct()
    ).scalars()
    return sorted(rows)
