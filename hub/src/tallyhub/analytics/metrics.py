"""Reading metric rows: the coarsest level and granularity that answer a query, summed per group.

The storage contract (tallyhub.storage.tables): minute rows are exact; hour and day rows hold the
minute rows marked `rolled`, so an hour or day query reads those plus the minute rows not yet rolled.
Several rows may exist per key, so everything is summed. Counts and sums are aggregated in SQL; the
histograms of a group come back concatenated in one string and are merged in Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import orjson
import sqlalchemy as sa

from tallyhub import histograms
from tallyhub.analytics.filters import Resolved
from tallyhub.analytics.stats import Tally
from tallyhub.analytics.timerange import TimeRange
from tallyhub.storage.tables import LEVEL_CONSUMER, LEVEL_ENDPOINT, MINUTE, UNROLLED_MINUTES, metrics

GroupBy = Literal["bucket", "endpoint", "consumer"]
_SEP = "\n"  # compact JSON never contains a newline
_NEEDED_LEVEL = {"bucket": 0, "endpoint": LEVEL_ENDPOINT, "consumer": LEVEL_CONSUMER}


def _sources(tr: TimeRange) -> list[tuple[int, bool]]:
    """(granularity, only unrolled) pairs whose rows together cover the range exactly once."""
    if tr.step == MINUTE:
        return [(MINUTE, False)]
    return [(tr.step, False), (MINUTE, True)]


def _key(group_by: GroupBy, granularity: int, step: int) -> sa.ColumnElement[int]:
    if group_by == "endpoint":
        return metrics.c.endpoint_id
    if group_by == "consumer":
        return metrics.c.consumer_id
    if granularity == step:
        return metrics.c.bucket
    return metrics.c.bucket - metrics.c.bucket % step


def _class_sum(low: int) -> sa.ColumnElement[int]:
    in_class = metrics.c.status_code.between(low, low + 99)
    return sa.func.sum(sa.case((in_class, metrics.c.request_count), else_=0))


def _query(
    resolved: Resolved, tr: TimeRange, group_by: GroupBy, granularity: int, unrolled: bool
) -> sa.Select:
    key = _key(group_by, granularity, tr.step).label("k")
    query = sa.select(
        key,
        sa.func.sum(metrics.c.request_count),
        _class_sum(400),
        _class_sum(500),
        sa.func.sum(metrics.c.request_size_sum),
        sa.func.sum(metrics.c.response_size_sum),
        sa.func.aggregate_strings(metrics.c.response_times, _SEP),
        sa.func.aggregate_strings(metrics.c.request_sizes, _SEP),
        sa.func.aggregate_strings(metrics.c.response_sizes, _SEP),
    ).where(
        metrics.c.env_id.in_(resolved.env_ids),
        metrics.c.granularity == granularity,
        metrics.c.level == max(resolved.level, _NEEDED_LEVEL[group_by]),
        metrics.c.bucket >= tr.start,
        metrics.c.bucket < tr.end,
    )
    if unrolled:
        # Spelled as the partial index's predicate, with literals, so the planners use that index.
        query = query.where(sa.text(UNROLLED_MINUTES))
    # For unrolled minutes, "+ 0" keeps SQLite off the endpoint/consumer indexes (more equality columns,
    # so it would prefer them) and on the small partial index.
    endpoint_id = metrics.c.endpoint_id + 0 if unrolled else metrics.c.endpoint_id
    consumer_id = metrics.c.consumer_id + 0 if unrolled else metrics.c.consumer_id
    if resolved.endpoint_ids is not None:
        query = query.where(endpoint_id.in_(resolved.endpoint_ids))
    if resolved.consumer_ids is not None:
        query = query.where(consumer_id.in_(resolved.consumer_ids))
    if resolved.status_range is not None:
        query = query.where(metrics.c.status_code.between(*resolved.status_range))
    return query.group_by(key)


def _parsed(text: str | None) -> list[dict[str, int]]:
    """The histograms of one group, parsed in one orjson call (they arrive joined by _SEP)."""
    if not text:
        return []
    parsed: list[dict[str, int]] = orjson.loads("[" + text.replace(_SEP, ",") + "]")
    return parsed


def _merged(text: str | None) -> histograms.Histogram:
    """histograms.merged for a joined group, keeping string keys until the end (the hot loop)."""
    total: dict[str, int] = {}
    for hist in _parsed(text):
        for key, count in hist.items():
            total[key] = total.get(key, 0) + count
    return {int(key): count for key, count in total.items()}


def _count(text: str | None) -> int:
    return sum(map(sum, map(dict.values, _parsed(text))))


def _rows(conn: sa.Connection, resolved: Resolved, tr: TimeRange, group_by: GroupBy) -> Iterator[sa.Row]:
    # One statement, so one snapshot even under READ COMMITTED: a rollup committing between two
    # statements would otherwise make its minutes vanish from both (or count in both).
    queries = [_query(resolved, tr, group_by, g, unrolled) for g, unrolled in _sources(tr)]
    statement = queries[0] if len(queries) == 1 else sa.union_all(*queries)
    yield from conn.execute(statement)


def tallies(conn: sa.Connection, resolved: Resolved, tr: TimeRange, group_by: GroupBy) -> dict[int, Tally]:
    """One Tally per bucket start, endpoint id or consumer id that has rows."""
    result: dict[int, Tally] = {}
    if not resolved.env_ids or resolved.endpoint_ids == () or resolved.consumer_ids == ():
        return result
    for key, count, c4xx, c5xx, req_bytes, resp_bytes, times, req_sizes, resp_sizes in _rows(
        conn, resolved, tr, group_by
    ):
        tally = Tally(
            int(count or 0),
            int(c4xx or 0),
            int(c5xx or 0),
            int(req_bytes or 0),
            int(resp_bytes or 0),
            _merged(times),
            _count(req_sizes),
            _count(resp_sizes),
        )
        existing = result.get(int(key))
        if existing is None:
            result[int(key)] = tally
        else:
            existing.add(tally)
    return result


def total(tallied: dict[int, Tally]) -> Tally:
    combined = Tally()
    for tally in tallied.values():
        combined.add(tally)
    return combined
