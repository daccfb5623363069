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

from tallyhub import histograms
from tallyhub.metrics import consumer_hours
from tallyhub.metrics.rows import COLUMNS, LevelAggregates, Values, merged_duplicates, summed
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
    """The minute rows of some request metrics at the four levels, ready to append once ids are known."""

    def __init__(self, entries: Iterable[RequestMetrics], received_at: float) -> None:
        minutes: dict[int, LevelAggregates[NaturalEndpoint, str]] = {}
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
        # Serialising the histograms here keeps it out of the transaction (on SQLite, the write lock).
        self.minutes = [(bucket, levels.rows_with_sums()) for bucket, levels in minutes.items()]

    def append(
        self,
        conn: sa.Connection,
        env_id: int,
        endpoint_ids: Mapping[NaturalEndpoint, int],
        consumer_ids: Mapping[str, int],
    ) -> None:
        """Append the rows to env `env_id`, given the ids of every endpoint and consumer they name."""
        endpoints: dict[NaturalEndpoint | None, int] = {None: NO_ID}
        endpoints.update(endpoint_ids.items())
        consumers: dict[str | None, int] = {None: NO_ID}
        consumers.update(consumer_ids.items())
        rows = [
            (env_id, MINUTE, bucket, level, endpoints[ep], consumers[cons], status, *values)
            for bucket, serialised in self.minutes
            for level, ep, cons, status, values, _sums in serialised
        ]
        if len(set(endpoints.values())) < len(endpoints) or len(set(consumers.values())) < len(consumers):
            rows = merged_duplicates(rows)  # keys past a cap share their "other" bucket's id
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
        if len(parts) == 1:  # one payload: its rows as they are (the path without concurrency)
            rows, env_id, endpoint_ids, consumer_ids = parts[0]
            rows.append(conn, env_id, endpoint_ids, consumer_ids)
            return
        if not parts:
            return
        keyed: dict[tuple[Any, ...], list[Any]] = {}  # key -> [first row's serialised values, sums...]
        for minute_rows, env_id, endpoint_ids, consumer_ids in parts:
            endpoints: dict[NaturalEndpoint | None, int] = {None: NO_ID}
            endpoints.update(endpoint_ids.items())
            consumers: dict[str | None, int] = {None: NO_ID}
            consumers.update(consumer_ids.items())
            for bucket, serialised in minute_rows.minutes:
                for level, ep, cons, status, values, sums in serialised:
                    key = (env_id, MINUTE, bucket, level, endpoints[ep], consumers[cons], status)
                    found = keyed.get(key)
                    if found is None:
                        keyed[key] = [values, sums]
                    else:
                        found.append(sums)
        merged = [
            (*key, *(found[0] if len(found) == 2 else _columns(summed(found[1:]))))
            for key, found in keyed.items()
        ]
        bulk.append(conn, metrics, COLUMNS, merged)
        consumer_hours.add_minute_rows(conn, merged)


def _columns(values: Values) -> tuple[Any, ...]:
    """Summed values as a row's columns from request_count on (histograms serialised, not rolled)."""
    a, b, c, t, q, r = values
    dumps = histograms.dumps
    return (a, b, c, dumps(t) if t else "{}", dumps(q) if q else "{}", dumps(r) if r else "{}", False)
