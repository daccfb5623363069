"""Metric rows built from individual requests, exactly as ingestion stores them (read-API tests)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from tallyhub import histograms
from tallyhub.metrics import consumer_hours
from tallyhub.metrics.rows import COLUMNS
from tallyhub.paths import path_key
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, NO_ID, consumers, endpoints, metrics


@dataclasses.dataclass(frozen=True)
class Req:
    """One request as an instrumented API saw it (sizes None = unknown to the client)."""

    time: float
    method: str
    path: str
    status: int
    consumer: str | None = None
    response_time_ms: float = 50.0
    request_size: int | None = None
    response_size: int | None = None
    env: str = "prod"


def _time_bin(ms: float) -> int:
    return int(ms // 10) * 10


class MetricWriter:
    """Writes endpoints, consumers and metric rows for a list of Req, in the shape ingestion writes.

    `write(reqs)` stores minute rows (not rolled) at levels 0 to 3; `write(reqs, rolled=True)`
    stores the same minute rows marked rolled plus the hour and day rows the rollup would make.
    `copies` splits every key's requests over that many rows, as several syncs or instances would.
    `levels` = the levels written: (0, 1, 2) is what hubs stored before migration 0014; with all four
    the per-consumer hours are added to as well (what ingestion does since migration 0026).
    """

    Req = Req

    def __init__(self, db: Database, app_id: int) -> None:
        self.db = db
        self.app_id = app_id
        self.endpoint_ids: dict[tuple[int, str, str], int] = {}
        self.consumer_ids: dict[str, int] = {}

    def env_id(self, conn: sa.Connection, env: str) -> int:
        return app_store.ensure_env(conn, self.app_id, env)

    def endpoint(
        self, env: str, method: str, path: str, in_startup: bool = False, summary: str | None = None
    ) -> int:
        with self.db.write() as conn:
            return self._endpoint(conn, self.env_id(conn, env), method, path, in_startup, summary)

    def _endpoint(
        self,
        conn: sa.Connection,
        env_id: int,
        method: str,
        path: str,
        in_startup: bool = False,
        summary: str | None = None,
    ) -> int:
        key = (env_id, method.upper(), path_key(path))
        if key not in self.endpoint_ids:
            self.endpoint_ids[key] = conn.execute(
                endpoints.insert()
                .values(
                    env_id=env_id,
                    method=key[1],
                    path=path,
                    path_key=key[2],
                    in_startup=in_startup,
                    summary=summary,
                    first_seen=0.0,
                )
                .returning(endpoints.c.id)
            ).scalar_one()
        return self.endpoint_ids[key]

    def consumer(self, identifier: str, name: str | None = None, group: str | None = None) -> int:
        with self.db.write() as conn:
            return self._consumer(conn, identifier, name, group, 0.0)

    def _consumer(
        self, conn: sa.Connection, identifier: str, name: str | None, group: str | None, seen: float
    ) -> int:
        if identifier not in self.consumer_ids:
            self.consumer_ids[identifier] = conn.execute(
                consumers.insert()
                .values(
                    app_id=self.app_id,
                    identifier=identifier,
                    name=name,
                    group_name=group,
                    first_seen=seen,
                    last_seen=seen,
                )
                .returning(consumers.c.id)
            ).scalar_one()
        return self.consumer_ids[identifier]

    def write(
        self, reqs: Iterable[Req], rolled: bool = False, copies: int = 1, levels: Iterable[int] = (0, 1, 2, 3)
    ) -> None:
        levels = set(levels)
        reqs = list(reqs)
        with self.db.write() as conn:
            keyed: dict[tuple[int, int, int, int, int, int], list[Req]] = {}
            for r in reqs:
                env_id = self.env_id(conn, r.env)
                endpoint_id = self._endpoint(conn, env_id, r.method, r.path)
                consumer_id = self._consumer(conn, r.consumer, None, None, r.time) if r.consumer else NO_ID
                minute = int(r.time // MINUTE) * MINUTE
                for level, e, c in (
                    (0, NO_ID, NO_ID),
                    (1, endpoint_id, NO_ID),
                    (2, endpoint_id, consumer_id),
                    (3, NO_ID, consumer_id),
                ):
                    if level in levels:
                        keyed.setdefault((env_id, minute, level, e, c, r.status), []).append(r)
            rows = []
            for (env_id, minute, level, e, c, status), group in keyed.items():
                for part in _split(group, copies):
                    rows.append(_row(env_id, MINUTE, minute, level, e, c, status, part, rolled))
                if rolled:
                    for granularity in (HOUR, DAY):
                        bucket = minute // granularity * granularity
                        rows.append(_row(env_id, granularity, bucket, level, e, c, status, group, False))
            if rows:
                conn.execute(metrics.insert(), rows)
            if levels == {0, 1, 2, 3}:  # as this hub ingests: the per-consumer minutes added into their hours
                minutes = [tuple(r[c] for c in COLUMNS) for r in rows if r["granularity"] == MINUTE]
                consumer_hours.add_minute_rows(conn, minutes)


def _split(group: list[Req], copies: int) -> Iterator[list[Req]]:
    size = max(1, math.ceil(len(group) / copies))
    for i in range(0, len(group), size):
        yield group[i : i + size]


def _row(
    env_id: int,
    granularity: int,
    bucket: int,
    level: int,
    endpoint_id: int,
    consumer_id: int,
    status: int,
    reqs: list[Req],
    rolled: bool,
) -> dict[str, Any]:
    times: dict[int, int] = {}
    req_sizes: dict[int, int] = {}
    resp_sizes: dict[int, int] = {}
    for r in reqs:
        times[_time_bin(r.response_time_ms)] = times.get(_time_bin(r.response_time_ms), 0) + 1
        if r.request_size is not None:
            req_sizes[r.request_size // 1000] = req_sizes.get(r.request_size // 1000, 0) + 1
        if r.response_size is not None:
            resp_sizes[r.response_size // 1000] = resp_sizes.get(r.response_size // 1000, 0) + 1
    return {
        "env_id": env_id,
        "granularity": granularity,
        "bucket": bucket,
        "level": level,
        "endpoint_id": endpoint_id,
        "consumer_id": consumer_id,
        "status_code": status,
        "request_count": len(reqs),
        "request_size_sum": sum(r.request_size or 0 for r in reqs),
        "response_size_sum": sum(r.response_size or 0 for r in reqs),
        "response_times": histograms.dumps(times),
        "request_sizes": histograms.dumps(req_sizes),
        "response_sizes": histograms.dumps(resp_sizes),
        "rolled": rolled,
    }


def expected_stats(reqs: list[Req], apdex_t: int = 500) -> dict[str, Any]:
    """Stats computed directly from the requests (the oracle the API is checked against)."""
    n = len(reqs)
    c4 = sum(1 for r in reqs if 400 <= r.status < 500)
    c5 = sum(1 for r in reqs if 500 <= r.status < 600)
    known_in = [r.request_size for r in reqs if r.request_size is not None]
    known_out = [r.response_size for r in reqs if r.response_size is not None]
    times = sorted(r.response_time_ms for r in reqs)
    result: dict[str, Any] = {
        "requests": n,
        "requests_4xx": c4,
        "requests_5xx": c5,
        "error_rate": (c4 + c5) / n if n else 0.0,
        "bytes_received": sum(known_in),
        "bytes_sent": sum(known_out),
        "mean_request_size": sum(known_in) / len(known_in) if known_in else None,
        "mean_response_size": sum(known_out) / len(known_out) if known_out else None,
    }
    for name, q in (("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("p99", 0.99)):
        result[name] = times[max(1, math.ceil(q * n)) - 1] if n else None
    if n:
        # A response is satisfied when its whole 10 ms bin is within T (histograms.apdex).
        satisfied = sum(1 for t in times if _time_bin(t) + 10 <= apdex_t)
        tolerating = sum(1 for t in times if apdex_t < _time_bin(t) + 10 <= 4 * apdex_t)
        result["apdex"] = (satisfied + tolerating / 2) / n
    else:
        result["apdex"] = None
    return result


def assert_stats(actual: dict[str, Any], reqs: list[Req], apdex_t: int = 500) -> None:
    """Exact counts, bytes, means and Apdex; percentiles within one 10 ms bin of the true value."""
    expected = expected_stats(reqs, apdex_t)
    for key in ("requests", "requests_4xx", "requests_5xx", "bytes_received", "bytes_sent"):
        assert actual[key] == expected[key], key
    for key in ("error_rate", "mean_request_size", "mean_response_size", "apdex"):
        if expected[key] is None:
            assert actual[key] is None, key
        else:
            assert actual[key] == pytest.approx(expected[key]), key
    for key in ("p50", "p75", "p95", "p99"):
        if expected[key] is None:
            assert actual[key] is None, key
        else:
            # An estimate inside the 10 ms bin the true percentile falls in: within one bin.
            low = _time_bin(expected[key])
            assert low <= actual[key] <= low + 10, (key, actual[key], expected[key])
