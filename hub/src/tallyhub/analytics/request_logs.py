"""Request logs of an app, newest first, paged with `before` (the id of the last item of a page)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.analytics import traces
from tallyhub.analytics.times import iso
from tallyhub.metrics.selection import Selection
from tallyhub.storage.tables import consumers, request_logs

DETAIL_KEYS = (
    "request_headers",
    "request_body",
    "response_headers",
    "response_body",
    "exception",
    "client_ip",
    "logs",
    "spans",
)


def list_request_logs(
    conn: sa.Connection,
    resolved: Selection,
    start: float,
    end: float,
    limit: int,
    before: int | None,
    method: str | None = None,
) -> dict[str, Any]:
    """{"items": [...], "next_before": id of the last item when more may follow, else null}.

    `method` is matched on the logged method (any case), so requests to unknown routes still match it;
    a path filter arrives resolved to endpoint ids.
    """
    if not resolved.env_ids or resolved.endpoint_ids == () or resolved.consumer_ids == ():
        return {"items": [], "next_before": None}
    query = (
        sa.select(request_logs, consumers.c.identifier)
        .select_from(request_logs.outerjoin(consumers, consumers.c.id == request_logs.c.consumer_id))
        .where(
            request_logs.c.env_id.in_(resolved.env_ids),
            request_logs.c.timestamp >= start,
            request_logs.c.timestamp < end,
        )
    )
    if resolved.endpoint_ids is not None:
        query = query.where(request_logs.c.endpoint_id.in_(resolved.endpoint_ids))
    if method is not None:
        query = query.where(sa.func.upper(request_logs.c.method) == method.strip().upper())
    if resolved.consumer_ids is not None:
        query = query.where(request_logs.c.consumer_id.in_(resolved.consumer_ids))
    if resolved.status_range is not None:
        query = query.where(request_logs.c.status_code.between(*resolved.status_range))
    if before is not None:
        # Keyset paging on (timestamp, id), so pages neither skip nor repeat items.
        anchor = conn.execute(sa.select(request_logs.c.timestamp).where(request_logs.c.id == before)).scalar()
        if anchor is None:
            query = query.where(request_logs.c.id < before)
        else:
            query = query.where(
                sa.or_(
                    request_logs.c.timestamp < anchor,
                    sa.and_(request_logs.c.timestamp == anchor, request_logs.c.id < before),
                )
            )
    query = query.order_by(request_logs.c.timestamp.desc(), request_logs.c.id.desc()).limit(limit + 1)
    rows = conn.execute(query).all()
    items = [_item(row, resolved.env_names) for row in rows[:limit]]
    traces.join(conn, rows[:limit], items)
    return {"items": items, "next_before": items[-1]["id"] if len(rows) > limit else None}


def _item(row: sa.Row, env_names: dict[int, str]) -> dict[str, Any]:
    details = row.details if isinstance(row.details, dict) else {}
    return {
        "id": row.id,
        "uuid": row.uuid,
        "env": env_names[row.env_id],
        "timestamp": iso(row.timestamp),
        "method": row.method,
        "path": row.path,
        "url": row.url,
        "status_code": row.status_code,
        "response_time": row.response_time,
        "consumer": row.identifier,
        "request_size": row.request_size,
        "response_size": row.response_size,
        "trace_id": row.trace_id,
        "details": {key: details.get(key) for key in DETAIL_KEYS},
    }
