"""Request metrics into minute rows: summed and serialised before the write transaction, appended in it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

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
        self.minutes = [(bucket, levels.serialised()) for bucket, levels in minutes.items()]

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
            for level, ep, cons, status, values in serialised
        ]
        if len(set(endpoints.values())) < len(endpoints) or len(set(consumers.values())) < len(consumers):
            rows = merged_duplicates(rows)  # keys past a cap share their "other" bucket's id
        bulk.append(conn, metrics, COLUMNS, rows)
        consumer_hours.add_minute_rows(conn, rows)
