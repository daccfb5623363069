"""Traffic of an app: totals over a range and a zero-filled series of buckets."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.timerange import iso
from tallyhub.metrics import reads as metrics
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.metrics.tally import Tally


def traffic(conn: sa.Connection, resolved: Selection, tr: TimeRange, apdex_t: int) -> dict[str, Any]:
    """{"totals": Stats, "series": [{"time", ...Stats}]} with one series entry per bucket of the range."""
    return traffic_and_total(conn, resolved, tr, apdex_t)[0]


def traffic_and_total(
    conn: sa.Connection, resolved: Selection, tr: TimeRange, apdex_t: int, size_histograms: bool = False
) -> tuple[dict[str, Any], Tally]:
    """traffic() and the merged Tally of the whole range (for its histograms), from one query."""
    per_bucket = metrics.tallies(conn, resolved, tr, "bucket", size_histograms=size_histograms)
    empty = Tally().stats(apdex_t)
    series = []
    for bucket in tr.buckets():
        tally = per_bucket.get(bucket)
        series.append({"time": iso(bucket), **(tally.stats(apdex_t) if tally is not None else empty)})
    total = metrics.total(per_bucket)
    return {"totals": total.stats(apdex_t), "series": series}, total
