"""Spans of logged requests grouped by name over a time range: count, p50 and p95, slowest first.

The grouping counts spans per (name, duration bin), the range's whole hours from the hourly counts and
its edge minutes along span_records' covering (env_id, timestamp, name, duration_bin) index
(storage.span_hours), and reads the percentiles from those counts (storage.span_bins: within 6 %).
Example requests of a name are the newest of its spans at or above its p95, found along the (env_id,
name, timestamp) index.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.app_logs import requests_of
from tallyhub.analytics.times import iso
from tallyhub.storage import span_bins, span_hours
from tallyhub.storage.tables import span_records

EXAMPLES = 3


def _percentile(bins: list[tuple[int, int]], count: int, q: float) -> int:
    """The bin holding the nearest-rank q-quantile of `count` spans; `bins` sorted by bin."""
    rank = max(math.ceil(q * count), 1)
    seen = 0
    for bin_index, n in bins:
        seen += n
        if seen >= rank:
            return bin_index
    return bins[-1][0]


def span_stats(
    conn: sa.Connection, env_names: Mapping[int, str], start: float, end: float
) -> list[dict[str, Any]]:
    """Every span name of the envs over [start, end): count, p50_ms, p95_ms (and p95's bin), by p95 desc."""
    if not env_names:
        return []
    by_name: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for (name, duration_bin), n in span_hours.counts(conn, tuple(env_names), start, end).items():
        by_name[name].append((duration_bin, n))
    out: list[dict[str, Any]] = []
    for name, bins in by_name.items():
        bins.sort()
        count = sum(n for _, n in bins)
        p50, p95 = _percentile(bins, count, 0.5), _percentile(bins, count, 0.95)
        out.append(
            {
                "name": name,
                "count": count,
                "p50_ms": span_bins.value_of(p50),
                "p95_ms": span_bins.value_of(p95),
                "p95_bin": p95,
            }
        )
    out.sort(key=lambda s: (-int(s["p95_bin"]), -int(s["count"]), str(s["name"])))
    return out


def examples(
    conn: sa.Connection,
    env_names: Mapping[int, str],
    start: float,
    end: float,
    name: str,
    min_bin: int,
    limit: int = EXAMPLES,
) -> list[dict[str, Any]]:
    """Up to `limit` logged requests with a span `name` in bin `min_bin` or slower, newest first."""
    c = span_records.c
    rows: list[sa.Row] = []
    for env_id in env_names:
        query = (
            sa.select(c.env_id, c.timestamp, c.request_uuid, c.trace_id, c.duration_ms)
            .where(
                c.env_id == env_id,
                c.name == name,
                c.timestamp >= start,
                c.timestamp < end,
                c.duration_bin >= min_bin,
            )
            .order_by(c.timestamp.desc())
            .limit(limit * 4)  # a request may hold the span more than once
        )
        rows.extend(conn.execute(query).all())
    rows.sort(key=lambda r: r.timestamp, reverse=True)
    requests = requests_of(conn, rows)
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for row in rows:
        key = (
            (row.env_id, "uuid", row.request_uuid)
            if row.request_uuid
            else (row.env_id, "trace_id", row.trace_id)
        )
        found = requests.get(key)
        if found is None or found["id"] in seen:
            continue
        seen.add(found["id"])
        out.append(
            {
                **found,
                "env": env_names[row.env_id],
                "timestamp": iso(row.timestamp),
                "duration_ms": row.duration_ms,
            }
        )
        if len(out) == limit:
            break
    return out


def slowest_spans(
    conn: sa.Connection, env_names: Mapping[int, str], start: float, end: float, limit: int
) -> dict[str, Any]:
    """{"names": the `limit` slowest span names with their example requests, "total": names in range}."""
    stats = span_stats(conn, env_names, start, end)
    shown = stats[:limit]
    for entry in shown:
        entry["examples"] = examples(conn, env_names, start, end, entry["name"], entry.pop("p95_bin"))
    return {"names": shown, "total": len(stats)}
