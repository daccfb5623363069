"""Request metrics into minute rows: summed and serialised before the write transaction, appended in it.

Several payloads stored in one transaction (the batch writer's group commit) add their minute rows to one
`MinuteRowsGroup`, which sums the rows that share a key (env, minute, level, endpoint, consumer, status)
and appends each key once: N concurrent syncs of one app write about one sync's rows, and the table's
readers (which sum rows of a key anyway) see the same totals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from tallyhub.metrics import consumer_hours
from tallyhub.metrics.rows import COLUMNS, LevelAggregates, merged_duplicates
from tallyhub.storage import bulk
from tallyhub.storage.dimensions import NaturalEndpoint, natural_endpoint
from tallyhub.storage.tables import MINUTE, NO_ID, metrics


@dataclasses.dataclass(slots=True)
class RequestMetrics:
    """Requests to one endpoint by one consumer with one status, counted in a window that ended at `at`.

    Defined here rather than in ingest.batch, which holds it, because metrics/ may not import ingest/.
    """

    at: float | None  # None: when the hub received it
    consumer: str | None
    method: str
    path: str
    status_code: int
    request_count: int
    request_size_sum: int  # bytes, over the requests whose size was known
    response_size_sum: int
    response_times: Mapping[int, int]  # {10 ms bin's lower bound in ms: count}
    request_sizes: Mapping[int, int]  # {KB (bytes // 1000): count}
    response_sizes: Mapping[int, int]


class MinuteRows:
    """The minute rows of some request metrics at the four levels, ready to append once ids are known.

    The entries are only grouped by minute and key here; they are summed into the levels' rows when the
    rows are made, so that the rows of several payloads in one transaction are summed once (`absorb`).
    """

    def __init__(self, entries: Iterable[RequestMetrics], received_at: float) -> None:
        self.minutes: dict[int, LevelAggregates[NaturalEndpoint, str]] = {}
        minutes = self.minutes
        for e in entries:
            at = received_at if e.at is None else e.at
            bucket = int(at // MINUTE) * MINUTE
            levels = minutes.get(bucket)
            if levels is None:
                levels = minutes[bucket] = LevelAggregates()
            levels.add(
                natural_endpoint(e.method, e.path) if e.path else None,
                e.consumer or None,
                e.status_code,
                e.request_count,
                e.request_size_sum,
                e.response_size_sum,
                e.response_times,
                e.request_sizes,
                e.response_sizes,
            )

    def absorb(self, other: MinuteRows) -> None:
        """Add the entries of `other` (left unchanged) to these."""
        for bucket, levels in other.minutes.items():
            mine = self.minutes.get(bucket)
            if mine is None:
                mine = self.minutes[bucket] = LevelAggregates()
            mine.absorb(levels)

    def rows(
        self,
        env_id: int,
        endpoint_ids: Mapping[NaturalEndpoint, int],
        consumer_ids: Mapping[str, int],
    ) -> list[tuple[Any, ...]]:
        """The rows for env `env_id` in COLUMNS order, given the ids of every endpoint and consumer named."""
        endpoints: dict[NaturalEndpoint | None, int] = {None: NO_ID}
        endpoints.update(endpoint_ids.items())
        consumers: dict[str | None, int] = {None: NO_ID}
        consumers.update(consumer_ids.items())
        rows = [
            (env_id, MINUTE, bucket, level, endpoints[ep], consumers[cons], status, *values)
            for bucket, levels in self.minutes.items()
            for level, ep, cons, status, values in levels.serialised()
        ]
        if len(set(endpoints.values())) < len(endpoints) or len(set(consumers.values())) < len(consumers):
            rows = merged_duplicates(rows)  # keys past a cap share their "other" bucket's id
        return rows

    def append(
        self,
        conn: sa.Connection,
        env_id: int,
        endpoint_ids: Mapping[NaturalEndpoint, int],
        consumer_ids: Mapping[str, int],
    ) -> None:
        """Append the rows to env `env_id`, given the ids of every endpoint and consumer they name."""
        rows = self.rows(env_id, endpoint_ids, consumer_ids)
        bulk.append(conn, metrics, COLUMNS, rows)
        consumer_hours.add_minute_rows(conn, rows)


class MinuteRowsGroup:
    """Minute rows of one transaction's payloads, appended at its end with one row per key."""

    def __init__(self) -> None:
        self._parts: list[tuple[MinuteRows, int, Mapping[NaturalEndpoint, int], Mapping[str, int]]] = []

    def add(
        self,
        rows: MinuteRows,
        env_id: int,
        endpoint_ids: Mapping[NaturalEndpoint, int],
        consumer_ids: Mapping[str, int],
    ) -> None:
        """Rows for env `env_id`, to append with `append`, and the ids of what they name."""
        self._parts.append((rows, env_id, endpoint_ids, consumer_ids))

    def append(self, conn: sa.Connection) -> None:
        """Append the rows added so far, summed by key, and forget them."""
        parts, self._parts = self._parts, []
        if len(parts) == 1:  # one payload: the path without concurrency
            rows, env_id, endpoint_ids, consumer_ids = parts[0]
            rows.append(conn, env_id, endpoint_ids, consumer_ids)
            return
        # Within one transaction a natural key has one id, so the ids of an env's parts never disagree.
        by_env: dict[int, tuple[MinuteRows, dict[NaturalEndpoint, int], dict[str, int]]] = {}
        for rows, env_id, endpoint_ids, consumer_ids in parts:
            combined = by_env.get(env_id)
            if combined is None:
                combined = by_env[env_id] = (MinuteRows((), 0.0), {}, {})
            combined[0].absorb(rows)
            combined[1].update(endpoint_ids)
            combined[2].update(consumer_ids)
        merged = [row for env_id, (rows, e, c) in by_env.items() for row in rows.rows(env_id, e, c)]
        bulk.append(conn, metrics, COLUMNS, merged)
        consumer_hours.add_minute_rows(conn, merged)
