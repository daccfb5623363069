"""Metric rows at the four levels of detail (tables.py), summed from per-request aggregates.

Used by metrics.writes (request metrics into minute rows) and by the rollup (minute rows into hour/day rows):
an `Aggregate` adds counts, size sums and histograms, and renders one `metrics` row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping
from typing import Any, Generic, TypeVar

from tallyhub import histograms
from tallyhub.storage.tables import LEVEL_CONSUMER, LEVEL_CONSUMER_TOTAL, LEVEL_ENDPOINT, LEVEL_TOTAL

# (level, endpoint_id, consumer_id, status_code): what a row is about, within an env, granularity and bucket.
RowKey = tuple[int, int, int, int]


@dataclasses.dataclass
class Aggregate:
    request_count: int = 0
    request_size_sum: int = 0
    response_size_sum: int = 0
    response_times: dict[int, int] = dataclasses.field(default_factory=dict)
    request_sizes: dict[int, int] = dataclasses.field(default_factory=dict)
    response_sizes: dict[int, int] = dataclasses.field(default_factory=dict)

    def add(
        self,
        request_count: int,
        request_size_sum: int,
        response_size_sum: int,
        response_times: Mapping[int, int],
        request_sizes: Mapping[int, int],
        response_sizes: Mapping[int, int],
    ) -> None:
        self.request_count += request_count
        self.request_size_sum += request_size_sum
        self.response_size_sum += response_size_sum
        histograms.merge_into(self.response_times, response_times)
        histograms.merge_into(self.request_sizes, request_sizes)
        histograms.merge_into(self.response_sizes, response_sizes)

    def add_row(self, row: Any) -> None:
        """Add a stored `metrics` row (histograms serialised)."""
        self.add(
            row.request_count,
            row.request_size_sum,
            row.response_size_sum,
            histograms.loads(row.response_times),
            histograms.loads(row.request_sizes),
            histograms.loads(row.response_sizes),
        )

    def add_aggregate(self, other: Aggregate) -> None:
        self.add(
            other.request_count,
            other.request_size_sum,
            other.response_size_sum,
            other.response_times,
            other.request_sizes,
            other.response_sizes,
        )

    def columns(self) -> dict[str, Any]:
        return {
            "request_count": self.request_count,
            "request_size_sum": self.request_size_sum,
            "response_size_sum": self.response_size_sum,
            "response_times": histograms.dumps(_nonzero(self.response_times)),
            "request_sizes": histograms.dumps(_nonzero(self.request_sizes)),
            "response_sizes": histograms.dumps(_nonzero(self.response_sizes)),
        }


def _nonzero(hist: dict[int, int]) -> dict[int, int]:
    return {k: v for k, v in hist.items() if v}


# What a row counts, in the order Aggregate holds it (the histograms serialised).
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
    Only level 2 is kept as entries come; levels 1, 3 and 0 are summed from it in `serialised`, with
    plain lists and dicts rather than one object per row (this ran once per entry and per level).
    """

    def __init__(self) -> None:
        # (endpoint, consumer, status) -> [count, request size sum, response size sum, 3 histograms]
        self.rows: dict[tuple[E | None, C | None, int], list[Any]] = {}

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
        key = (endpoint, consumer, status_code)
        row = self.rows.get(key)
        if row is None:
            # Entries of one sync rarely share a level-2 key (they are distinct per consumer, method,
            # path and status), so a new one starts as a copy rather than a merge.
            self.rows[key] = [
                request_count,
                request_size_sum,
                response_size_sum,
                dict(response_times),
                dict(request_sizes),
                dict(response_sizes),
            ]
            return
        row[0] += request_count
        row[1] += request_size_sum
        row[2] += response_size_sum
        _merge(row[3], response_times)
        _merge(row[4], request_sizes)
        _merge(row[5], response_sizes)

    def serialised(self) -> list[tuple[int, E | None, C | None, int, tuple[Any, ...]]]:
        """(level, endpoint, consumer, status, values in COLUMNS order from request_count to the end)."""
        by_endpoint: dict[tuple[Any, Any, int], list[Any]] = {}
        by_consumer: dict[tuple[Any, Any, int], list[Any]] = {}
        # Levels 1 and 3 in one pass over level 2 (one loop rather than two over every entry's key).
        for (endpoint, consumer, status), row in self.rows.items():
            _add_to(by_endpoint, (endpoint, None, status), row)
            _add_to(by_consumer, (None, consumer, status), row)
        # Level 0 from whichever of the two has fewer rows: each counts every request exactly once.
        fewer = by_consumer if len(by_consumer) < len(by_endpoint) else by_endpoint
        totals: dict[tuple[Any, Any, int], list[Any]] = {}
        for (_e, _c, status), row in fewer.items():
            _add_to(totals, (None, None, status), row)
        dumps = histograms.dumps
        return [
            (level, endpoint, consumer, status, (a, b, c, dumps(t), dumps(q), dumps(r), False))
            for level, rows in (
                (LEVEL_CONSUMER, self.rows),
                (LEVEL_ENDPOINT, by_endpoint),
                (LEVEL_CONSUMER_TOTAL, by_consumer),
                (LEVEL_TOTAL, totals),
            )
            for (endpoint, consumer, status), (a, b, c, t, q, r) in rows.items()
        ]


def _merge(target: dict[int, int], source: Mapping[int, int]) -> None:
    get = target.get
    for bin_, count in source.items():
        target[bin_] = get(bin_, 0) + count


def _add_to(sums: dict[tuple[Any, Any, int], list[Any]], key: tuple[Any, Any, int], row: list[Any]) -> None:
    """Add a row to the sum of its key (the histograms of a key's first row copied, never shared)."""
    total = sums.get(key)
    if total is None:
        sums[key] = [row[0], row[1], row[2], dict(row[3]), dict(row[4]), dict(row[5])]
        return
    total[0] += row[0]
    total[1] += row[1]
    total[2] += row[2]
    # The merges inlined: a 200-entry sync makes about a thousand of them.
    for target, source in ((total[3], row[3]), (total[4], row[4]), (total[5], row[5])):
        get = target.get
        for bin_, count in source.items():
            target[bin_] = get(bin_, 0) + count


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
