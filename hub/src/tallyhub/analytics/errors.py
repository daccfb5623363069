"""Server and validation errors of an app, counted over a range (error counts are per minute)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.paging import Page, sliced
from tallyhub.analytics.times import iso
from tallyhub.metrics import reads as metrics
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.storage import sentry_links
from tallyhub.storage.tables import NO_ID, consumers, endpoints, error_counts, error_groups


def list_errors(
    conn: sa.Connection, resolved: Selection, start: int, end: int
) -> dict[str, list[dict[str, Any]]]:
    """Error groups with a count in the minute buckets [start, end), most frequent first, split by kind."""
    result: dict[str, list[dict[str, Any]]] = {"server_errors": [], "validation_errors": []}
    if not resolved.env_ids or resolved.endpoint_ids == () or resolved.consumer_ids == ():
        return result
    in_range = sa.and_(
        error_counts.c.bucket >= start,
        error_counts.c.bucket < end,
        error_groups.c.env_id.in_(resolved.env_ids),
    )
    if resolved.endpoint_ids is not None:
        in_range = sa.and_(in_range, error_groups.c.endpoint_id.in_(resolved.endpoint_ids))
    if resolved.consumer_ids is not None:
        in_range = sa.and_(in_range, error_counts.c.consumer_id.in_(resolved.consumer_ids))
    joined = error_counts.join(error_groups, error_groups.c.id == error_counts.c.group_id)
    per_consumer = conn.execute(
        sa.select(error_counts.c.group_id, error_counts.c.consumer_id, sa.func.sum(error_counts.c.count))
        .select_from(joined)
        .where(in_range)
        .group_by(error_counts.c.group_id, error_counts.c.consumer_id)
    ).all()
    counts: dict[int, int] = {}
    consumer_ids: dict[int, set[int]] = {}
    for group_id, consumer_id, count in per_consumer:
        counts[group_id] = counts.get(group_id, 0) + int(count or 0)
        if consumer_id != NO_ID:
            consumer_ids.setdefault(group_id, set()).add(int(consumer_id))
    if not counts:
        return result
    groups = conn.execute(
        sa.select(error_groups, endpoints.c.method, endpoints.c.path)
        .select_from(error_groups.outerjoin(endpoints, endpoints.c.id == error_groups.c.endpoint_id))
        .where(error_groups.c.id.in_(list(counts)))
    ).all()
    # The latest Sentry event id a client sent for each group in the range (the newest row that has one).
    latest = (
        sa.select(sa.func.max(error_counts.c.id))
        .select_from(joined)
        .where(in_range, error_counts.c.sentry_event_id.is_not(None))
        .group_by(error_counts.c.group_id)
    )
    sentry_events = dict(
        conn.execute(
            sa.select(error_counts.c.group_id, error_counts.c.sentry_event_id).where(
                error_counts.c.id.in_(latest.scalar_subquery())
            )
        ).all()
    )
    organisation_url = sentry_links.org_url_of_envs(conn, resolved.env_ids) if sentry_events else None
    wanted = {i for ids in consumer_ids.values() for i in ids}
    named = (
        conn.execute(
            sa.select(consumers.c.id, consumers.c.identifier, consumers.c.name).where(
                consumers.c.id.in_(wanted)
            )
        ).all()
        if wanted
        else []
    )
    identifiers = {row.id: row.identifier for row in named}
    names = {row.id: row.name for row in named if row.name}
    for group in groups:
        entry: dict[str, Any] = {
            "id": group.id,
            "env": resolved.env_names[group.env_id],
            "method": group.method,
            "path": group.path,
        }
        common = {
            "count": counts[group.id],
            "first_seen": iso(group.first_seen),
            "last_seen": iso(group.last_seen),
        }
        if group.kind == "server":
            entry |= {"type": group.type, "msg": group.msg, "traceback": group.traceback, **common}
            ids = [i for i in consumer_ids.get(group.id, ()) if i in identifiers]
            entry["consumers"] = sorted(identifiers[i] for i in ids)
            entry["consumer_names"] = {identifiers[i]: names[i] for i in ids if i in names}
            event_id = sentry_events.get(group.id)
            entry["sentry_event_id"] = event_id
            entry["sentry_url"] = sentry_links.event_url(organisation_url, event_id)
            result["server_errors"].append(entry)
        else:
            loc = group.loc if isinstance(group.loc, list) else []
            entry |= {"loc": [str(part) for part in loc], "msg": group.msg, "type": group.type, **common}
            result["validation_errors"].append(entry)
    for entries in result.values():
        entries.sort(key=lambda e: (-e["count"], e["id"]))
    return result


SORTS = ("count", "last_seen", "first_seen")
_KEYS = {name: (lambda e, name=name: e[name]) for name in SORTS}


def sorted_page(listed: list[dict[str, Any]], page: Page) -> list[dict[str, Any]]:
    """A page of one of list_errors' lists in the page's order (ties by id)."""
    return sliced(listed, page, _KEYS, lambda e: e["id"])


def status_codes(
    conn: sa.Connection, resolved: Selection, tr: TimeRange, minimum: int = 100
) -> list[dict[str, Any]]:
    """Requests per status code from `minimum` up over tr, by code: [{"status_code", "count", "share"}],
    share being the code's part of the listed requests (0-1)."""
    counts = {code: n for code, n in metrics.status_counts(conn, resolved, tr).items() if code >= minimum}
    listed = sum(counts.values())
    return [{"status_code": code, "count": n, "share": n / listed} for code, n in sorted(counts.items())]
