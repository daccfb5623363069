"""A synthetic traffic data set for the query benchmark, written straight into the metrics table.

The rows have exactly the shape ingestion plus the rollup leave behind (tallyhub.storage.tables):
minute rows at levels 0 to 3 for the last `minute_days` (older minutes are gone by retention),
marked rolled except for the current hour, and hour and day rows at every level for the whole span.
Every row's histograms hold exactly `request_count` response times, so the numbers are consistent.

`load(db, app_id, spec, now)` is the one entry point; a loader that sends the same traffic through
the ingestion code (POST /v2/.../sync) can replace it with the same signature.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from tallyhub import histograms
from tallyhub.paths import path_key
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, NO_ID, consumers, endpoints, envs, metrics

STATUSES = (200, 200, 200, 200, 200, 200, 201, 204, 304, 400, 401, 404, 404, 422, 500)


@dataclasses.dataclass(frozen=True)
class Spec:
    requests: int = 10_000_000
    days: int = 30
    endpoints: int = 50
    consumers: int = 100
    minute_days: int = 7
    seed: int = 1


@dataclasses.dataclass
class Loaded:
    requests: int = 0
    rows: int = 0
    seconds: float = 0.0


@lru_cache(maxsize=200_000)
def _hist(shape: int, count: int) -> str:
    """`count` response times spread over a fixed, endpoint-specific shape (deterministic)."""
    rnd = random.Random(shape * 1_000_003 + count)
    base = 10 + (shape % 7) * 30
    bins: dict[int, int] = {}
    for _ in range(min(count, 64)):  # sample 64 times at most, then scale: cheap and still skewed
        ms = rnd.lognormvariate(math.log(base), 0.8)
        key = min(int(ms // 10) * 10, 30_000)
        bins[key] = bins.get(key, 0) + 1
    if count > 64:
        scaled = {k: v * count // 64 for k, v in bins.items()}
        top = max(scaled, key=lambda k: scaled[k])
        scaled[top] += count - sum(scaled.values())
        bins = {k: v for k, v in scaled.items() if v}
    return histograms.dumps(bins)


@lru_cache(maxsize=200_000)
def _sizes(kb: int, count: int) -> str:
    return histograms.dumps({kb: count}) if count else "{}"


def _setup(db: Database, app_id: int, spec: Spec) -> tuple[int, list[int], list[int]]:
    now = time.time()
    with db.write() as conn:
        env_id = conn.execute(
            envs.insert().values(app_id=app_id, name="bench", created_at=now).returning(envs.c.id)
        ).scalar_one()
        endpoint_ids = []
        for i in range(spec.endpoints):
            path = f"/resource{i // 2}/{{id}}" if i % 2 else f"/resource{i // 2}"
            endpoint_ids.append(
                conn.execute(
                    endpoints.insert()
                    .values(
                        env_id=env_id,
                        method="GET" if i % 3 else "POST",
                        path=path,
                        path_key=path_key(path),
                        in_startup=True,
                        first_seen=now,
                    )
                    .returning(endpoints.c.id)
                ).scalar_one()
            )
        consumer_ids = [
            conn.execute(
                consumers.insert()
                .values(
                    app_id=app_id,
                    identifier=f"consumer-{i}",
                    group_name=f"group-{i % 5}",
                    first_seen=now,
                    last_seen=now,
                )
                .returning(consumers.c.id)
            ).scalar_one()
            for i in range(spec.consumers)
        ]
    return env_id, endpoint_ids, consumer_ids


Cell = tuple[int, int, int]  # endpoint index, consumer index (-1 = none), status


def _cells(spec: Spec, rnd: random.Random) -> tuple[list[Cell], list[float]]:
    """(endpoint, consumer, status) cells with Zipf-like weights, as real traffic is skewed."""
    cells: list[Cell] = []
    weights: list[float] = []
    for e in range(spec.endpoints):
        for c in range(-1, spec.consumers):
            for status in set(STATUSES):
                cells.append((e, c, status))
                weights.append(STATUSES.count(status) / ((e + 1) * (c + 2) ** 0.7))
    total = 0.0
    cumulative = []
    for w in weights:
        total += w
        cumulative.append(total)
    return cells, cumulative


def _minutes(spec: Spec, end: int, rnd: random.Random) -> Iterator[tuple[int, int]]:
    """(minute bucket, request count): a daily cycle averaging to spec.requests over the span."""
    count = spec.days * 1440
    mean = spec.requests / count
    start = end - count * MINUTE
    raw = [1 + 0.6 * math.sin(2 * math.pi * ((start + i * MINUTE) % DAY) / DAY) for i in range(count)]
    scale = mean / (sum(raw) / count)
    left = spec.requests
    for i, r in enumerate(raw):
        n = left if i == count - 1 else max(0, round(r * scale * rnd.uniform(0.9, 1.1)))
        n = min(n, left)
        left -= n
        yield start + i * MINUTE, n


def load(db: Database, app_id: int, spec: Spec, now: float) -> Loaded:
    """Write the data set for one new env "bench" of the app; returns what was written."""
    began = time.perf_counter()
    rnd = random.Random(spec.seed)
    env_id, endpoint_ids, consumer_ids = _setup(db, app_id, spec)
    cells, cumulative = _cells(spec, rnd)
    end = int(now // HOUR) * HOUR + HOUR  # the current hour is not rolled yet
    unrolled_from = int(now // HOUR) * HOUR
    minute_from = end - spec.minute_days * DAY
    loaded = Loaded()
    batch: list[dict[str, Any]] = []

    def flush(force: bool = False) -> None:
        if batch and (force or len(batch) >= 20_000):
            with db.write() as conn:
                conn.execute(metrics.insert(), batch)
            loaded.rows += len(batch)
            batch.clear()

    def emit(granularity: int, bucket: int, counts: Counter[Cell], rolled: bool) -> None:
        per_level: list[Counter[tuple[int, int, int]]] = [Counter(), Counter(), Counter(), Counter()]
        for (e, c, status), n in counts.items():
            consumer_id = consumer_ids[c] if c >= 0 else NO_ID
            per_level[0][(NO_ID, NO_ID, status)] += n
            per_level[1][(endpoint_ids[e], NO_ID, status)] += n
            per_level[2][(endpoint_ids[e], consumer_id, status)] += n
            per_level[3][(NO_ID, consumer_id, status)] += n
        for level, keyed in enumerate(per_level):
            for (endpoint_id, consumer_id, status), n in keyed.items():
                kb = endpoint_id % 5
                batch.append(
                    {
                        "env_id": env_id,
                        "granularity": granularity,
                        "bucket": bucket,
                        "level": level,
                        "endpoint_id": endpoint_id,
                        "consumer_id": consumer_id,
                        "status_code": status,
                        "request_count": n,
                        "request_size_sum": n * 200 if kb % 2 else 0,
                        "response_size_sum": n * (kb * 1000 + 400),
                        "response_times": _hist(endpoint_id, n),
                        "request_sizes": _sizes(0, n if kb % 2 else 0),
                        "response_sizes": _sizes(kb, n),
                        "rolled": rolled,
                    }
                )
        flush()

    # Minutes come in order, so each hour and day is emitted once it is complete (memory stays small).
    hour_counts: Counter[Cell] = Counter()
    day_counts: Counter[Cell] = Counter()
    current_hour = current_day = -1
    for bucket, n in _minutes(spec, end, rnd):
        counts = Counter(rnd.choices(cells, cum_weights=cumulative, k=n))
        loaded.requests += n
        if bucket >= minute_from:
            emit(MINUTE, bucket, counts, rolled=bucket < unrolled_from)
        if bucket >= unrolled_from:
            continue
        hour, day = bucket // HOUR * HOUR, bucket // DAY * DAY
        if hour != current_hour:
            if hour_counts:
                emit(HOUR, current_hour, hour_counts, rolled=False)
            hour_counts, current_hour = Counter(), hour
        if day != current_day:
            if day_counts:
                emit(DAY, current_day, day_counts, rolled=False)
            day_counts, current_day = Counter(), day
        hour_counts.update(counts)
        day_counts.update(counts)
    if hour_counts:
        emit(HOUR, current_hour, hour_counts, rolled=False)
    if day_counts:
        emit(DAY, current_day, day_counts, rolled=False)
    flush(force=True)
    loaded.seconds = time.perf_counter() - began
    return loaded
