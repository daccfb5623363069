"""Migration 0014: data stored before the per-consumer level (3) gets it, so consumer views still answer.

Old-shape rows (levels 0 to 2 only: minute rows rolled and not, hour and day rows, several rows per
key) are written at the revision before it; after the upgrade the level-3 rows hold exactly what
level 2 holds summed over endpoints, and the read API's consumer answers equal the requests (both
engines).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from tallyhub import histograms
from tallyhub.analytics.times import iso
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import LEVEL_CONSUMER, LEVEL_CONSUMER_TOTAL, NO_ID, metrics

from tests.support.metric_rows import Req, assert_stats

T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
DAY = 86400


def _requests() -> list[Req]:
    rnd = random.Random(13)
    return [
        Req(
            T0 + rnd.randrange(3 * DAY),
            "GET",
            rnd.choice(["/a", "/b/{id}", "/c"]),
            rnd.choice([200, 200, 201, 404, 500]),
            rnd.choice(["alice", "bob", "carol", None]),
            rnd.choice([5, 40, 250, 1200]),
            rnd.choice([None, 300, 2500]),
            rnd.choice([None, 80, 12000]),
        )
        for _ in range(400)
    ]


def _summed(rows: list[Any], level: int) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Per (granularity, bucket, consumer, status, rolled): counts, sums and merged histograms."""
    sums: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, 0, {}, {}, {}])
    for r in rows:
        if r.level != level:
            continue
        total = sums[(r.granularity, r.bucket, r.consumer_id, r.status_code, bool(r.rolled))]
        total[0] += r.request_count
        total[1] += r.request_size_sum
        total[2] += r.response_size_sum
        for hist, text in zip(total[3:], (r.response_times, r.request_sizes, r.response_sizes), strict=True):
            histograms.merge_into(hist, histograms.loads(text))
    return {key: tuple(value) for key, value in sums.items()}


def test_old_data_gets_the_consumer_level_and_still_answers(api: Any, db: Any) -> None:
    reqs = _requests()
    old, recent = [r for r in reqs if r.time < T0 + 2 * DAY], [r for r in reqs if r.time >= T0 + 2 * DAY]
    command.downgrade(alembic_config(db), "0013")  # before 0014 (later revisions go down with it)
    # As a hub before 0014 left them: rolled minutes with their hour and day rows, then unrolled minutes.
    api.writer.write(old, rolled=True, copies=2, levels=(0, 1, 2))
    api.writer.write(recent, copies=2, levels=(0, 1, 2))
    upgrade(db)

    with db.read() as conn:
        rows = conn.execute(sa.select(metrics)).all()
    level3 = [r for r in rows if r.level == LEVEL_CONSUMER_TOTAL]
    assert level3 and {r.endpoint_id for r in level3} == {NO_ID}
    assert _summed(rows, LEVEL_CONSUMER_TOTAL) == _summed(rows, LEVEL_CONSUMER)
    # One row per key: the copies were merged.
    keys = [(r.granularity, r.bucket, r.consumer_id, r.status_code, r.rolled) for r in level3]
    assert len(keys) == len(set(keys))

    window = {"start": iso(T0), "end": iso(T0 + 3 * DAY)}
    listed = {c["identifier"]: c for c in api.get("/consumers", **window)}
    for name in ("alice", "bob", "carol"):
        mine = [r for r in reqs if r.consumer == name]
        assert_stats(listed[name], mine)
        for interval in ("minute", "hour", "day"):
            body = api.get("/traffic", consumer=name, interval=interval, **window)
            assert_stats(body["totals"], mine)
            assert sum(point["requests"] for point in body["series"]) == len(mine)


def test_the_migration_leaves_data_written_with_level_3_alone(api: Any, db: Any) -> None:
    reqs = _requests()[:50]
    api.writer.write(reqs)
    with db.read() as conn:
        before = conn.execute(
            sa.select(sa.func.count()).where(metrics.c.level == LEVEL_CONSUMER_TOTAL)
        ).scalar()
    command.downgrade(alembic_config(db), "0013")  # deletes level 3 ...
    api.writer.write(reqs, levels=(3,))  # ... which a hub already running this code writes again
    upgrade(db)
    with db.read() as conn:
        after = conn.execute(
            sa.select(sa.func.count()).where(metrics.c.level == LEVEL_CONSUMER_TOTAL)
        ).scalar()
    assert after == before > 0
