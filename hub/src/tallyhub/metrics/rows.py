"""Metric rows at the four levels of detail (tables.py), summed from per-request aggregates.

Used by metrics.writes (request metrics into minute rows); the rollup sums stored rows itself (hourly.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Generic, TypeVar

from tallyhub import histograms
from tallyhub.storage.tables import LEVEL_CONSUMER, LEVEL_CONSUMER_TOTAL, LEVEL_ENDPOINT, LEVEL_TOTAL

# (level, endpoint_id, consumer_id, status_code): what a row is about, within an env, granularity and bucket.
RowKey = tuple[int, int, int, int]


# What a row counts (the histograms serialised).
VALUE_COLUMNS = (
    "request_count",
    "request_size_sum",
    "response_size_sum",
    "response_times",
    "request_sizes",
    "response_sizes",
)
KEY_COLUMNS = ("env_id", "granularity", "bucket", "level", "endpoint_id", "consumer_id", "status_code")
COLUMNS = (*KEY_COLUMNS, *VALUE_COLUMNS, "rolled")

E = TypeVar("E", bound=Hashable)
C = TypeVar("C", bound=Hashable)


class LevelAggregates(Generic[E, C]):
    """Adds (endpoint, consumer, status) aggregates to all four levels; the hot path of every sync.

    Endpoints and consumers are whatever keys the caller has (natural keys, so that this work happens
    before the write transaction starts); None stands for "no endpoint/consumer" (NO_ID in the table).
    Entries are only grouped as they come; each row of each level is summed once in `serialised`, from
    its group's members: a group of one reuses its member's histograms (and their serialised text),
    a larger one starts from a C-level copy of its first member's. The entries' own histograms are
    never changed.
    """

    def __init__(self) -> None:
        # (endpoint, consumer, status) -> the entries' values (count, 2 size sums, 3 histograms)
        self.rows: dict[tuple[E | None, C | None, int], list[_Values]] = {}

    def add(
        self,
        endpoint: E | None,
        consumer: C | None,
        status_code: int,
        request_count: int,
        request_size_sum: int,
        response_size_sum: int,
        response_times: Mapping[int, int],
        request_sizes: Mapping[int, int],
        response_sizes: Mapping[int, int],
    ) -> None:
        values = (
            request_count,
            request_size_sum,
            response_size_sum,
            response_times,
            request_sizes,
            response_sizes,
        )
        group = self.rows.get(key := (endpoint, consumer, status_code))
        if group is None:
            self.rows[key] = [values]
        else:
            group.append(values)

    def absorb(self, other: LevelAggregates[E, C]) -> None:
        """Add the entries of `other` (left unchanged) to these."""
        rows = self.rows
        for key, group in other.rows.items():
            mine = rows.get(key)
            if mine is None:
                rows[key] = list(group)
            else:
                mine.extend(group)

    def serialised(self) -> list[tuple[int, E | None, C | None, int, tuple[Any, ...]]]:
        """(level, endpoint, consumer, status, values in COLUMNS order from request_count to the end)."""
        by_key = {key: _summed(group) for key, group in self.rows.items()}
        by_endpoint: dict[tuple[Any, Any, int], list[Any]] = {}
        by_consumer: dict[tuple[Any, Any, int], list[Any]] = {}
        # Levels 1 and 3 in one pass over level 2.
        for (endpoint, consumer, status), values in by_key.items():
            _add_to(by_endpoint, (endpoint, None, status), values)
            _add_to(by_consumer, (None, consumer, status), values)
        endpoints = _finished(by_endpoint)
        consumers = _finished(by_consumer)
        # Level 0 from whichever of the two has fewer rows: each counts every request exactly once.
        totals: dict[tuple[Any, Any, int], list[_Values]] = {}
        for (_e, _c, status), values in (consumers if len(consumers) < len(endpoints) else endpoints).items():
            _group(totals, (None, None, status), values)
        # A row that is another level's row too (a group of one) reuses that row's serialised values.
        done: dict[int, tuple[Any, ...]] = {}
        dumps = histograms.dumps

        def columns(values: _Values) -> tuple[Any, ...]:
            found = done.get(id(values))
            if found is None:
                a, b, c, t, q, r = values
                found = done[id(values)] = (
                    a,
                    b,
                    c,
                    dumps(t) if t else "{}",
                    dumps(q) if q else "{}",
                    dumps(r) if r else "{}",
                    False,
                )
            return found

        return [
            (level, endpoint, consumer, status, columns(values))
            for level, rows in (
                (LEVEL_CONSUMER, by_key),
                (LEVEL_ENDPOINT, endpoints),
                (LEVEL_CONSUMER_TOTAL, consumers),
                (LEVEL_TOTAL, {key: _summed(group) for key, group in totals.items()}),
            )
            for (endpoint, consumer, status), values in rows.items()
        ]


# What an entry or a summed row counts: request count, size sums and the three histograms.
_Values = tuple[int, int, int, Mapping[int, int], Mapping[int, int], Mapping[int, int]]


def _group(
    groups: dict[tuple[Any, Any, int], list[_Values]], key: tuple[Any, Any, int], values: _Values
) -> None:
    group = groups.get(key)
    if group is None:
        groups[key] = [values]
    else:
        group.append(values)


def _add_to(sums: dict[tuple[Any, Any, int], list[Any]], key: tuple[Any, Any, int], values: _Values) -> None:
    """Add values to the running sum of their key: [count, sizes, 3 histograms, first values or None].

    A key's first values are only referred to; their histograms are copied when a second one comes.
    """
    total = sums.get(key)
    if total is None:
        sums[key] = [*values, values]
        return
    if total[6] is not None:  # the second values of this key: from now on the sum owns its histograms
        total[3], total[4], total[5], total[6] = dict(total[3]), dict(total[4]), dict(total[5]), None
    total[0] += values[0]
    total[1] += values[1]
    total[2] += values[2]
    # The merges inlined and unrolled: a 200-entry sync makes about a thousand of them.
    target = total[3]
    get = target.get
    for bin_, count in values[3].items():
        target[bin_] = get(bin_, 0) + count
    target = total[4]
    get = target.get
    for bin_, count in values[4].items():
        target[bin_] = get(bin_, 0) + count
    target = total[5]
    get = target.get
    for bin_, count in values[5].items():
        target[bin_] = get(bin_, 0) + count


def _finished(sums: dict[tuple[Any, Any, int], list[Any]]) -> dict[tuple[Any, Any, int], _Values]:
    """Running sums as values: a key with one contribution is that contribution itself."""
    return {key: total[6] if total[6] is not None else tuple(total[:6]) for key, total in sums.items()}


def _summed(group: list[_Values]) -> _Values:
    """The sum of a group's values: the member itself for a group of one (nothing is copied).

    The members of a larger group (one key in several payloads of a transaction) are added into copies
    of the first member's histograms, the loops unrolled: this runs for every key of every group.
    """
    if len(group) == 1:
        return group[0]
    first = group[0]
    a, b, c = first[0], first[1], first[2]
    times, requests, responses = dict(first[3]), dict(first[4]), dict(first[5])
    times_get, requests_get, responses_get = times.get, requests.get, responses.get
    for i in range(1, len(group)):
        values = group[i]
        a += values[0]
        b += values[1]
        c += values[2]
        for bin_, count in values[3].items():
            times[bin_] = times_get(bin_, 0) + count
        for bin_, count in values[4].items():
            requests[bin_] = requests_get(bin_, 0) + count
        for bin_, count in values[5].items():
            responses[bin_] = responses_get(bin_, 0) + count
    return (a, b, c, times, requests, responses)


def merged_duplicates(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows in COLUMNS order with one row per key: those whose keys coincide (several endpoints or
    consumers stored under one "other" bucket) summed, so that a bucket adds one row, not one per key."""
    width = len(KEY_COLUMNS)
    sums: dict[tuple[Any, ...], list[Any]] = {}
    hists: dict[tuple[Any, ...], tuple[histograms.Histogram, ...]] = {}
    for row in rows:
        key = row[:width]
        total = sums.get(key)
        if total is None:
            sums[key] = list(row)
            continue
        for i in range(width, width + 3):
            total[i] += row[i]
        merged = hists.get(key)
        if merged is None:
            merged = hists[key] = tuple(histograms.loads(total[i]) for i in range(width + 3, width + 6))
        for hist, text in zip(merged, row[width + 3 : width + 6], strict=True):
            histograms.merge_into(hist, histograms.loads(text))
    for key, merged in hists.items():
        sums[key][width + 3 : width + 6] = [histograms.dumps(h) for h in merged]
    return [tuple(total) for total in sums.values()]
