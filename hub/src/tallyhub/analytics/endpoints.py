"""Endpoints of an app with their statistics, including endpoints never called (known from startup)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.paging import Page, sliced
from tallyhub.metrics import reads as metrics
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.metrics.tally import Tally
from tallyhub.storage.endpoint_settings import suggest_exclusion
from tallyhub.storage.tables import endpoints


def list_endpoints(
    conn: sa.Connection, resolved: Selection, tr: TimeRange, apdex_t: int
) -> list[dict[str, Any]]:
    """One entry per (method, path_key) across the selected envs, ordered by path_key then method.

    Each says whether its settings hide it or exclude its traffic, and whether it looks like a probe that
    is worth excluding (`suggest_exclusion`); callers that list endpoints leave hidden ones out.
    """
    if not resolved.env_ids or resolved.endpoint_ids == ():
        return []
    query = sa.select(
        endpoints.c.id,
        endpoints.c.env_id,
        endpoints.c.method,
        endpoints.c.path,
        endpoints.c.path_key,
        endpoints.c.summary,
        endpoints.c.description,
        endpoints.c.in_startup,
    ).where(endpoints.c.env_id.in_(resolved.env_ids))
    if resolved.endpoint_ids is not None:
        query = query.where(endpoints.c.id.in_(resolved.endpoint_ids))
    rows = conn.execute(query.order_by(endpoints.c.id)).all()
    per_endpoint = metrics.tallies(conn, resolved, tr, "endpoint")
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    tallies: dict[tuple[str, str], Tally] = {}
    for row in rows:
        key = (row.method, row.path_key)
        entry = merged.get(key)
        if entry is None:
            # The first spelling seen names the endpoint; envs may spell it differently.
            entry = merged[key] = {
                "method": row.method,
                "path": row.path,
                "path_key": row.path_key,
                "envs": [],
                "in_startup": False,
                "summary": row.summary,
                "description": row.description,
                "hidden": False,
                "excluded": False,
                "suggest_exclusion": False,
            }
            tallies[key] = Tally()
        env = resolved.env_names[row.env_id]
        if env not in entry["envs"]:
            entry["envs"].append(env)
        entry["in_startup"] = entry["in_startup"] or bool(row.in_startup)
        entry["hidden"] = entry["hidden"] or row.id in resolved.rules.hidden
        entry["excluded"] = entry["excluded"] or row.id in resolved.rules.excluded
        entry["suggest_exclusion"] = not entry["excluded"] and suggest_exclusion(row.path_key)
        entry["summary"] = entry["summary"] or row.summary
        entry["description"] = entry["description"] or row.description
        found = per_endpoint.get(row.id)
        if found is not None:
            tallies[key].add(found)
    return [
        {**merged[key], **tallies[key].stats(apdex_t)} for key in sorted(merged, key=lambda k: (k[1], k[0]))
    ]


SORTS = ("path", "method", "requests", "errors", "p95")
_KEYS = {
    "path": lambda e: e["path_key"],
    "method": lambda e: e["method"],
    "requests": lambda e: e["requests"],
    "errors": lambda e: e["requests_4xx"] + e["requests_5xx"],
    "p95": lambda e: e["p95"],
}


def shown(listed: list[dict[str, Any]], include_hidden: bool) -> list[dict[str, Any]]:
    """The entries a list shows: hidden ones only when asked for."""
    return listed if include_hidden else [e for e in listed if not e["hidden"]]


def sorted_page(listed: list[dict[str, Any]], page: Page) -> list[dict[str, Any]]:
    """A page of list_endpoints' entries (at most the app's endpoint cap of them) in the page's order."""
    return sliced(listed, page, _KEYS, lambda e: (e["path_key"], e["method"]))
