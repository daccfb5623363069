"""Metric rows at the three levels of detail (tables.py), summed from per-request aggregates.

Used by ingestion (sync entries into minute rows) and by the rollup (minute rows into hour/day rows):
an `Aggregate` adds counts, size sums and histograms, and renders one `metrics` row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tallyhub import histograms
from tallyhub.storage.tables import LEVEL_CONSUMER, LEVEL_ENDPOINT, LEVEL_TOTAL, NO_ID

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


class LevelAggregates:
    """Adds one (endpoint, consumer, status) aggregate to all three levels at once."""

    def __init__(self) -> None:
        self.rows: dict[RowKey, Aggregate] = {}

    def add(self, endpoint_id: int, consumer_id: int, status_code: int, **values: Any) -> None:
        for key in (
            (LEVEL_TOTAL, NO_ID, NO_ID, status_code),
            (LEVEL_ENDPOINT, endpoint_id, NO_ID, status_code),
            (LEVEL_CONSUMER, endpoint_id, consumer_id, status_code),
        ):
            aggregate = self.rows.get(key)
            if aggregate is None:
                aggregate = self.rows[key] = Aggregate()
            aggregate.add(**values)

    def row_dicts(self, env_id: int, granularity: int, bucket: int) -> list[dict[str, Any]]:
        return [
            {
                "env_id": env_id,
                "granularity": granularity,
                "bucket": bucket,
                "level": level,
                "endpoint_id": endpoint_id,
                "consumer_id": consumer_id,
                "status_code": status_code,
                "rolled": False,
                **aggregate.columns(),
            }
            for (level, endpoint_id, consumer_id, status_code), aggregate in self.rows.items()
        ]
