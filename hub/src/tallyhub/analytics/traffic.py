"""Traffic of an app: totals over a range and a zero-filled series of buckets."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.times import iso
from tallyhub.metrics import reads as metrics
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.metrics.tally import Tally


def traffic(conn: sa.Connection, resolved: Selection, tr: TimeRange, apdex_t: int) -> dict[str, Any]:
    """{"totals": Stats, "series": [{"time", ...Stats}]} with one series entry per bucket of the range."""
    return traffic_and_total(conn, resolved, tr, apdex_t)[0]


def traffic_and_total(
    conn: sa.Connection,
    resolved: Selection,
    tr: TimeRange,
    apdex_t: int,
    size_histograms: bool = False,
    from_first_data: bool = False,
) -> tuple[dict[str, Any], Tally]:
    """traffic() and the merged Tally of the whole range (for its histograms), from one query.

    from_first_data=True starts the series at the environments' first data when that is inside the
    range: a day's chart of an app that started 2 hours ago shows those 2 hours, not 22 of zeros.
    """
    per_bucket = metrics.tallies(conn, resolved, tr, "bucket", size_histograms=size_histograms)
    empty = Tally().stats(apdex_t)
    series = []
    buckets = tr.buckets()
    if from_first_data:
        buckets = range(series_start(conn, resolved, tr), tr.end, tr.step)
    for bucket in buckets:
        tally = per_bucket.get(bucket)
        series.append({"time": iso(bucket), **(tally.stats(apdex_t) if tally is not None else empty)})
    total = metrics.total(per_bucket)
    return {"totals": total.stats(apdex_t), "series": series}, total


def series_start(conn: sa.Connection, resolved: Selection, tr: TimeRange) -> int:
    """The first bucket of tr to chart: tr.start, or the bucket of the first data if that is later."""
    first = metrics.first_bucket(conn, resolved.env_ids)
    if first is None or first <= tr.start:
        return tr.start
    return min(tr.end, tr.start + (first - tr.start) // tr.step * tr.step)
