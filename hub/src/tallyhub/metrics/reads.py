"""Reading metric rows: the coarsest level and granularity that answer a query, summed per group.

The storage contract (tallyhub.storage.tables): minute rows are exact; hour and day rows hold the
minute rows the rollup's mark has passed, so an hour or day query reads those plus the minute rows not
yet rolled (the minutes from the mark on, and rows written later for minutes before it).
Several rows may exist per key, so everything is summed. Counts and sums are aggregated in SQL; the
histograms of a group come back concatenated in one string and are merged in Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from tallyhub import histograms
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.metrics.tally import Tally
from tallyhub.storage.tables import (
    DAY,
    HOUR,
    MINUTE,
    ROLLED_BEFORE,
    ROLLED_THROUGH,
    level_for,
    metrics,
)

GroupBy = Literal["bucket", "endpoint", "consumer", "all"]
_SEP = "\n"  # compact JSON never contains a newline


# Which minute rows a part reads: all, or only the unrolled ones from the rollup's mark on ("fresh") or
# written after it for minutes before it ("late").
Minutes = Literal["all", "fresh", "late"]
Part = tuple[int, Minutes, int, int]  # (granularity, minute rows read, first bucket, end)


def _sources(tr: TimeRange, group_by: GroupBy = "bucket") -> list[Part]:
    """Row sets that together hold every request of [tr.start, tr.end) exactly once.

    Minute rows roll into hour and day rows alike, so rolled rows come from one granularity per
    stretch of time and unrolled minutes from the minute rows. A series reads rows of its step; a
    single total per key (endpoint, consumer, all) reads whole days from day rows and only the
    hours at the range's edges from hour rows: several times fewer rows for a 7-day range.
    """
    if tr.step == MINUTE:
        return [(MINUTE, "all", tr.start, tr.end)]
    unrolled: list[Part] = [(MINUTE, "fresh", tr.start, tr.end), (MINUTE, "late", tr.start, tr.end)]
    if group_by == "bucket" or tr.step == DAY:
        return [(tr.step, "all", tr.start, tr.end), *unrolled]
    first_day, last_day = -(-tr.start // DAY) * DAY, tr.end // DAY * DAY
    if first_day >= last_day:
        return [(HOUR, "all", tr.start, tr.end), *unrolled]
    parts: list[Part] = [(DAY, "all", first_day, last_day), *unrolled]
    if tr.start < first_day:
        parts.append((HOUR, "all", tr.start, first_day))
    if last_day < tr.end:
        parts.append((HOUR, "all", last_day, tr.end))
    return parts


def _key(group_by: GroupBy, granularity: int, step: int) -> sa.ColumnElement[int]:
    if group_by == "endpoint":
        return metrics.c.endpoint_id
    if group_by == "consumer":
        return metrics.c.consumer_id
    if group_by == "all":
        return sa.literal(0, sa.Integer)
    if granularity == step:
        return metrics.c.bucket
    return metrics.c.bucket - metrics.c.bucket % step


def _class_sum(low: int) -> sa.ColumnElement[int]:
    in_class = metrics.c.status_code.between(low, low + 99)
    return sa.func.sum(sa.case((in_class, metrics.c.request_count), else_=0))


_MAIN = -1  # the endpoint column of a main row; adjustment rows carry their endpoint id there


def _query(resolved: Selection, tr: TimeRange, group_by: GroupBy, part: Part, hists: bool) -> sa.Select:
    granularity = part[0]
    key = _key(group_by, granularity, tr.step).label("k")
    columns = (metrics.c.response_times, metrics.c.request_sizes, metrics.c.response_sizes)
    # Merging histograms is most of a query's cost; counts-only callers skip it.
    merged = [sa.func.aggregate_strings(c, _SEP) if hists else sa.null() for c in columns]
    query = sa.select(
        key,
        sa.literal(_MAIN, sa.Integer),
        sa.literal(0, sa.Integer),
        sa.func.sum(metrics.c.request_count),
        _class_sum(400),
        _class_sum(500),
        sa.func.sum(metrics.c.request_size_sum),
        sa.func.sum(metrics.c.response_size_sum),
        *merged,
    )
    return _narrowed(query, resolved, part, group_by).group_by(key)


def _adjustment(
    resolved: Selection, tr: TimeRange, group_by: GroupBy, part: Part, hists: bool
) -> sa.Select | None:
    """Rows of the endpoints whose settings change the figures, per key, endpoint and status (None if none).

    The main rows may lack the endpoint dimension (the per-status level): these, read at a level that has
    it, say how many of a key's errors are expected and which response times take an endpoint's own T.
    Only the few configured endpoints' rows are read.
    """
    rules = resolved.rules
    own = tuple(sorted(rules.apdex_t)) if hists else ()
    if not rules.expected and not own:
        return None
    key = _key(group_by, part[0], tr.step).label("k")
    picked = []
    if rules.expected:
        picked.append(_expected_rows(resolved))
    if own:
        picked.append(metrics.c.endpoint_id.in_(own))
    zero = sa.literal(0, sa.BigInteger)
    query = sa.select(
        key,
        metrics.c.endpoint_id,
        metrics.c.status_code,
        sa.func.sum(metrics.c.request_count),
        zero,
        zero,
        zero,
        zero,
        sa.func.aggregate_strings(metrics.c.response_times, _SEP) if own else sa.null(),
        sa.null(),
        sa.null(),
    )
    query = _narrowed(query, resolved, part, group_by, by_endpoint=True).where(sa.or_(*picked))
    return query.group_by(key, metrics.c.endpoint_id, metrics.c.status_code)


def _expected_rows(resolved: Selection) -> sa.ColumnElement[bool]:
    """Rows of an (endpoint, status) pair the endpoint's settings expect (successes, not errors)."""
    return sa.tuple_(metrics.c.endpoint_id, metrics.c.status_code).in_(sorted(resolved.rules.expected))


def _narrowed(
    query: sa.Select, resolved: Selection, part: Part, group_by: GroupBy, by_endpoint: bool = False
) -> sa.Select:
    """Rows of the part matching the filters, at the coarsest level that has the filtered and grouped
    dimensions (by consumer without an endpoint filter: the per-consumer level, not per endpoint);
    by_endpoint=True reads a level with the endpoint dimension whatever the filters."""
    granularity, minutes, first, end = part
    level = level_for(
        by_endpoint or resolved.endpoint_ids is not None or group_by == "endpoint",
        resolved.consumer_ids is not None or group_by == "consumer",
    )
    if minutes == "late":
        return _narrowed_late(query, resolved, level, first, end)
    query = query.where(
        metrics.c.env_id.in_(resolved.env_ids),
        metrics.c.granularity == granularity,
        metrics.c.level == level,
        metrics.c.bucket < end,
    )
    if minutes == "fresh":
        # The index range on bucket starts at the later of the range's start and the mark. The start alone
        # again for PostgreSQL, whose planner prunes slices by constants only; SQLite would take either
        # bound for its index range, so it does not see that one (unindexed).
        query = query.where(
            metrics.c.rolled == sa.false(),
            metrics.c.bucket >= later(sa.literal(first), _ROLLED_BEFORE),
            unindexed(metrics.c.bucket) >= first,
        )
    else:
        query = query.where(metrics.c.bucket >= first)
    if resolved.endpoint_ids is not None:
        query = query.where(metrics.c.endpoint_id.in_(resolved.endpoint_ids))
    if resolved.consumer_ids is not None:
        query = query.where(metrics.c.consumer_id.in_(resolved.consumer_ids))
    if resolved.status_range is not None:
        query = query.where(metrics.c.status_code.between(*resolved.status_range))
    return query


def _narrowed_late(query: sa.Select, resolved: Selection, level: int, first: int, end: int) -> sa.Select:
    """The part of the unrolled minutes written after the rollup's mark for minutes before it: found by
    id (rows written since the last rollup, few), so every other column is wrapped out of the indexes'
    reach ("+ 0", and on SQLite `unindexed`) and the planners walk the rowids / primary keys from the mark.
    Bounded above too: with both bounds unknown when planning, PostgreSQL estimates a narrow range."""
    query = query.where(
        *late_minutes(resolved.env_ids, level),
        unindexed(metrics.c.bucket) >= first,
        unindexed(metrics.c.bucket) < end,
    )
    if resolved.endpoint_ids is not None:
        query = query.where((metrics.c.endpoint_id + 0).in_(resolved.endpoint_ids))
    if resolved.consumer_ids is not None:
        query = query.where((metrics.c.consumer_id + 0).in_(resolved.consumer_ids))
    if resolved.status_range is not None:
        query = query.where(metrics.c.status_code.between(*resolved.status_range))
    return query


def late_minutes(env_ids: Iterable[int], level: int) -> tuple[sa.ColumnElement[bool], ...]:
    """The conditions of _narrowed_late for the envs' minute rows of one level (also read by BENCH=rollup)."""
    return (
        (metrics.c.env_id + 0).in_(env_ids),
        unindexed(metrics.c.granularity) == MINUTE,
        metrics.c.level + 0 == level,
        unindexed(metrics.c.bucket) < _ROLLED_BEFORE,
        # No minute is before a mark at 0 (no rollup yet): both planners test this once, and skip the walk
        # of every id above through_id = 0.
        _ROLLED_BEFORE > 0,
        metrics.c.rolled == sa.false(),
        metrics.c.id > _ROLLED_THROUGH,
        metrics.c.id <= _ROLLED_THROUGH + _ID_SPAN,
    )


_ROLLED_BEFORE = sa.literal_column(ROLLED_BEFORE, sa.BigInteger)
_ROLLED_THROUGH = sa.literal_column(ROLLED_THROUGH, sa.BigInteger)
_ID_SPAN = 1 << 62  # more ids than any table gets: the upper bound only tells the planner the range is narrow


class unindexed(FunctionElement[int]):
    """A column SQLite must not reach by an index ("+column"); the column itself elsewhere, so that
    PostgreSQL still prunes partitions on it."""

    inherit_cache = True
    type = sa.BigInteger()


@compiles(unindexed)
def _plain(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(unindexed, "sqlite")
def _unary_plus(element: unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.clauses, **kw))


class later(FunctionElement[int]):
    """The larger of two integers: greatest() on PostgreSQL, the two-argument max() on SQLite."""

    inherit_cache = True
    type = sa.BigInteger()


@compiles(later)
def _greatest(element: later, compiler: Any, **kw: Any) -> str:
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(later, "sqlite")
def _max(element: later, compiler: Any, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


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


def _rows(
    conn: sa.Connection, resolved: Selection, tr: TimeRange, group_by: GroupBy, hists: bool
) -> Iterator[sa.Row]:
    # One statement, so one snapshot even under READ COMMITTED: a rollup committing between two
    # statements would otherwise make its minutes vanish from both (or count in both).
    queries = []
    for part in _sources(tr, group_by):
        queries.append(_query(resolved, tr, group_by, part, hists))
        adjustment = _adjustment(resolved, tr, group_by, part, hists)
        if adjustment is not None:
            queries.append(adjustment)
    statement = queries[0] if len(queries) == 1 else sa.union_all(*queries)
    yield from conn.execute(statement)


def tallies(
    conn: sa.Connection,
    resolved: Selection,
    tr: TimeRange,
    group_by: GroupBy,
    with_histograms: bool = True,
    size_histograms: bool = False,
) -> dict[int, Tally]:
    """One Tally per bucket start, endpoint id or consumer id (or key 0 for "all") that has rows.

    With with_histograms=False the tallies' histograms stay empty (counts and bytes only; much cheaper);
    with size_histograms=True the request and response size histograms are merged too.
    """
    result: dict[int, Tally] = {}
    if not resolved.env_ids or resolved.endpoint_ids == () or resolved.consumer_ids == ():
        return result
    for (
        key,
        endpoint_id,
        status,
        count,
        c4xx,
        c5xx,
        req_bytes,
        resp_bytes,
        times,
        req_sizes,
        resp_sizes,
    ) in _rows(conn, resolved, tr, group_by, with_histograms):
        if endpoint_id != _MAIN:
            _adjust(
                result.setdefault(int(key), Tally()), resolved, int(endpoint_id), int(status), count, times
            )
            continue
        tally = Tally(
            int(count or 0),
            int(c4xx or 0),
            int(c5xx or 0),
            int(req_bytes or 0),
            int(resp_bytes or 0),
            _merged(times),
            _count(req_sizes),
            _count(resp_sizes),
            _merged(req_sizes) if size_histograms else {},
            _merged(resp_sizes) if size_histograms else {},
        )
        existing = result.get(int(key))
        if existing is None:
            result[int(key)] = tally
        else:
            existing.add(tally)
    return result


def _adjust(
    tally: Tally, resolved: Selection, endpoint_id: int, status: int, count: int | None, times: str | None
) -> None:
    """Apply one adjustment row (see _adjustment) to its key's tally."""
    if (endpoint_id, status) in resolved.rules.expected:
        expected = int(count or 0)
        tally.expected += expected
        if status >= 500:
            tally.requests_5xx -= expected
        else:
            tally.requests_4xx -= expected
    own_t = resolved.rules.apdex_t.get(endpoint_id)
    if own_t is not None and times:
        histograms.merge_into(tally.own_t_times.setdefault(own_t, {}), _merged(times))


def total(tallied: dict[int, Tally]) -> Tally:
    combined = Tally()
    for tally in tallied.values():
        combined.add(tally)
    return combined


def consumer_bucket_tallies(
    conn: sa.Connection, resolved: Selection, tr: TimeRange, by_day: bool = False
) -> dict[int, dict[int, Tally]]:
    """Tallies without histograms (counts and bytes) per consumer id and bucket start; empty ones left out.

    Buckets are of tr's step, or with by_day=True UTC days (the edge days hold only the part of
    the day inside tr): a daily series of an hourly range, read from day rows where days are whole.
    """
    result: dict[int, dict[int, Tally]] = {}
    if not resolved.env_ids or resolved.endpoint_ids == () or resolved.consumer_ids == ():
        return result
    queries = []
    step = DAY if by_day else tr.step
    for part in _sources(tr, "consumer" if by_day else "bucket"):
        key = _key("bucket", part[0], step).label("k")
        query = sa.select(
            key,
            metrics.c.consumer_id,
            sa.literal(_MAIN, sa.Integer),
            sa.literal(0, sa.Integer),
            sa.func.sum(metrics.c.request_count),
            _class_sum(400),
            _class_sum(500),
            sa.func.sum(metrics.c.request_size_sum),
            sa.func.sum(metrics.c.response_size_sum),
        )
        query = _narrowed(query, resolved, part, "consumer")
        queries.append(query.group_by(key, metrics.c.consumer_id))
        if resolved.rules.expected:
            zero = sa.literal(0, sa.BigInteger)
            expected = sa.select(
                key,
                metrics.c.consumer_id,
                metrics.c.endpoint_id,
                metrics.c.status_code,
                sa.func.sum(metrics.c.request_count),
                zero,
                zero,
                zero,
                zero,
            )
            expected = _narrowed(expected, resolved, part, "consumer", by_endpoint=True).where(
                _expected_rows(resolved)
            )
            queries.append(
                expected.group_by(key, metrics.c.consumer_id, metrics.c.endpoint_id, metrics.c.status_code)
            )
    statement = queries[0] if len(queries) == 1 else sa.union_all(*queries)
    for bucket, consumer_id, endpoint_id, status, count, c4xx, c5xx, req_bytes, resp_bytes in conn.execute(
        statement
    ):
        per_bucket = result.setdefault(int(consumer_id), {})
        if endpoint_id != _MAIN:
            _adjust(
                per_bucket.setdefault(int(bucket), Tally()),
                resolved,
                int(endpoint_id),
                int(status),
                count,
                None,
            )
            continue
        tally = Tally(
            int(count or 0), int(c4xx or 0), int(c5xx or 0), int(req_bytes or 0), int(resp_bytes or 0)
        )
        existing = per_bucket.get(int(bucket))
        if existing is None:
            per_bucket[int(bucket)] = tally
        else:
            existing.add(tally)
    return result


def consumer_counts(conn: sa.Connection, resolved: Selection, tr: TimeRange) -> dict[int, dict[int, int]]:
    """Requests per consumer id and bucket start (buckets without requests left out)."""
    return {
        consumer_id: {bucket: tally.requests for bucket, tally in per_bucket.items()}
        for consumer_id, per_bucket in consumer_bucket_tallies(conn, resolved, tr).items()
    }


def expected_consumer_rows(resolved: Selection, tr: TimeRange) -> list[sa.Select]:
    """consumer_id, 0, -requests for the rows of tr whose (endpoint, status) the endpoint's settings expect
    (none without expected statuses): added to per-consumer requests and errors (4xx + 5xx), they take
    those errors back off (expected errors are successes). Read from the level with endpoints, through the
    index on env, granularity, level, endpoint and bucket: only the expected endpoints' rows."""
    if not resolved.rules.expected:
        return []
    expected = sa.select(
        metrics.c.consumer_id.label("consumer_id"),
        sa.literal(0, sa.BigInteger).label("requests"),
        (-metrics.c.request_count).label("errors"),
    )
    return [
        _narrowed(expected, resolved, part, "consumer", by_endpoint=True).where(_expected_rows(resolved))
        for part in _sources(tr, "consumer")
    ]


def consumer_totals(resolved: Selection, tr: TimeRange) -> sa.Subquery | None:
    """Per consumer id with requests in tr: consumer_id, requests, errors (4xx + 5xx), as a subquery to
    join and sort in SQL (100,000 consumers page without being read); None if nothing can match."""
    if not resolved.env_ids or resolved.endpoint_ids == () or resolved.consumer_ids == ():
        return None
    parts = []
    for part in _sources(tr, "consumer"):
        query = sa.select(
            metrics.c.consumer_id.label("consumer_id"),
            metrics.c.request_count.label("requests"),
            sa.case((metrics.c.status_code >= 400, metrics.c.request_count), else_=0).label("errors"),
        )
        parts.append(_narrowed(query, resolved, part, "consumer"))
    parts += expected_consumer_rows(resolved, tr)
    rows = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("consumer_rows")
    return (
        sa.select(
            rows.c.consumer_id,
            sa.func.sum(rows.c.requests).label("requests"),
            sa.func.sum(rows.c.errors).label("errors"),
        )
        .group_by(rows.c.consumer_id)
        .subquery("consumer_totals")
    )


def consumer_buckets(resolved: Selection, tr: TimeRange, by_day: bool = False) -> sa.Subquery | None:
    """(consumer_id, bucket) for every bucket of tr's step (or UTC day) in which a consumer has requests,
    as a subquery: a pair comes once per row (status, source), so count it DISTINCT or take its min;
    None if nothing can match."""
    if not resolved.env_ids or resolved.endpoint_ids == () or resolved.consumer_ids == ():
        return None
    step = DAY if by_day else tr.step
    parts = []
    for part in _sources(tr, "consumer" if by_day else "bucket"):
        key = _key("bucket", part[0], step).label("bucket")
        query = sa.select(metrics.c.consumer_id.label("consumer_id"), key)
        parts.append(_narrowed(query, resolved, part, "consumer"))
    # Not made distinct here: that sorted 100,000 consumers' pairs once more before each caller's grouping.
    return (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("consumer_buckets")


def status_counts(conn: sa.Connection, resolved: Selection, tr: TimeRange) -> dict[int, int]:
    """Requests per status code over tr (codes without requests are left out)."""
    if not resolved.env_ids or resolved.endpoint_ids == () or resolved.consumer_ids == ():
        return {}
    parts = []
    for part in _sources(tr, "all"):
        query = sa.select(metrics.c.status_code, sa.func.sum(metrics.c.request_count))
        parts.append(_narrowed(query, resolved, part, "all").group_by(metrics.c.status_code))
    counts: dict[int, int] = {}
    for status, count in conn.execute(parts[0] if len(parts) == 1 else sa.union_all(*parts)):
        if count:
            counts[int(status)] = counts.get(int(status), 0) + int(count)
    return counts


def first_bucket(conn: sa.Connection, env_ids: tuple[int, ...]) -> int | None:
    """The start of the earliest bucket with requests in these environments, None without any.

    Each granularity's earliest row comes from the (env, granularity, level, bucket) index. Day rows
    outlive hour rows, and hour rows minute rows (retention), so a finer granularity refines the
    answer only when its earliest row falls inside the coarser one's earliest bucket (or before it:
    minutes not rolled yet).
    """
    if not env_ids:
        return None
    first: int | None = None
    coarser_step = 0
    for granularity in (DAY, HOUR, MINUTE):
        earliest = conn.execute(
            sa.select(sa.func.min(metrics.c.bucket)).where(
                metrics.c.env_id.in_(env_ids),
                metrics.c.granularity == granularity,
                metrics.c.level == level_for(False, False),
            )
        ).scalar()
        if earliest is not None and (first is None or earliest < first + coarser_step):
            first = int(earliest)
        coarser_step = granularity
    return first
