"""OTLP request logs' traces: the child spans and log records stored apart (trace_items) joined to them.

A request log from a SERVER span holds its span id; what hangs below that span in its trace (spans
whose parents lead to it, logs written in any of them) is its trace, whichever export brought it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.storage.tables import trace_items


def join(conn: sa.Connection, rows: Sequence[sa.Row], items: list[dict[str, Any]]) -> None:
    """Add to each item (made from the row at the same index) the spans and logs of its SERVER span."""
    roots = {
        i: (row.env_id, row.trace_id, details["span_id"])
        for i, row in enumerate(rows)
        if row.trace_id and isinstance(details := row.details, dict) and details.get("span_id")
    }
    if not roots:
        return
    by_trace: dict[tuple[int, str], list[sa.Row]] = defaultdict(list)
    for env_id, trace_ids in _by_env(roots.values()).items():
        query = (
            sa.select(trace_items)
            .where(trace_items.c.env_id == env_id, trace_items.c.trace_id.in_(trace_ids))
            .order_by(trace_items.c.timestamp, trace_items.c.id)
        )
        for item in conn.execute(query):
            by_trace[(item.env_id, item.trace_id)].append(item)
    for i, (env_id, trace_id, span_id) in roots.items():
        spans, logs = _below(span_id, by_trace.get((env_id, trace_id), []))
        details = items[i]["details"]
        details["spans"] = [*(details.get("spans") or []), *spans]
        details["logs"] = [*(details.get("logs") or []), *logs]


def _by_env(roots: Any) -> dict[int, set[str]]:
    out: dict[int, set[str]] = defaultdict(set)
    for env_id, trace_id, _ in roots:
        out[env_id].add(trace_id)
    return out


def _below(root: str, items: Sequence[sa.Row]) -> tuple[list[Any], list[Any]]:
    """The spans descending from span `root` and the logs written in it or them, in time order."""
    children: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item.kind == "span" and item.parent_span_id and item.span_id:
            children[item.parent_span_id].append(item.span_id)
    inside = {root}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in inside:  # a cycle of bad parent ids ends here
                inside.add(child)
                todo.append(child)
    spans = [item.data for item in items if item.kind == "span" and item.span_id in inside]
    logs = [item.data for item in items if item.kind == "log" and item.span_id in inside]
    return spans, logs
