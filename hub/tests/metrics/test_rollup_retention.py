"""Rollup keeps hour and day views exact whether or not it has run; retention deletes what is past due."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tallyhub import histograms
from tallyhub.app import MAINTENANCE_JOBS, run_retention
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.v2.request_log import RequestLogLine
from tallyhub.ingest.writer import Writer
from tallyhub.jobs.maintenance import Maintenance
from tallyhub.metrics import rollup
from tallyhub.settings import load_settings
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import (
    DAY,
    HOUR,
    MINUTE,
    UNROLLED_MINUTES,
    consumer_hours,
    error_counts,
    error_groups,
    metrics,
    received_messages,
    request_logs,
)

DATA = Path(__file__).parents[1] / "ingest" / "data"
T0 = 1_795_651_200.0  # a UTC midnight
SETTINGS = load_settings({"maintenance_interval_seconds": 60})

View = dict[tuple[Any, ...], tuple[int, int, int, dict[int, int], dict[int, int], dict[int, int]]]


def random_sync(rng: random.Random, at: float) -> Sync:
    requests = [
        {
            "consumer": rng.choice([None, "", "a", "b", "c"]),
            "method": rng.choice(["GET", "POST"]),
            "path": rng.choice(["/x/<int:id>", "/y", "/x/{id}"]),
            "status_code": rng.choice([200, 404, 500]),
            "request_count": (n := rng.randint(1, 9)),
            "request_size_sum": rng.randint(0, 5000),
            "response_size_sum": rng.randint(0, 5000),
            "response_times": {str(rng.randint(0, 30) * 10): n},
            "request_sizes": {str(rng.randint(0, 3)): n},
            "response_sizes": {},
        }
        for _ in range(rng.randint(1, 12))
    ]
    return Sync.model_validate(
        {
            "instance_uuid": str(uuid.uuid4()),
            "message_uuid": str(uuid.uuid4()),
            "timestamp": at,
            "requests": requests,
        }
    )


def aggregate(conn: sa.Connection, size: int, condition: Any) -> View:
    """Rows matching `condition` summed per (env, bucket of `size`, level, endpoint, consumer, status)."""
    view: View = {}
    for r in conn.execute(sa.select(metrics).where(condition)):
        key = (r.env_id, r.bucket // size * size, r.level, r.endpoint_id, r.consumer_id, r.status_code)
        count, req, resp, rt, rqs, rss = view.get(key, (0, 0, 0, {}, {}, {}))
        view[key] = (
            count + r.request_count,
            req + r.request_size_sum,
            resp + r.response_size_sum,
            histograms.merge_into(rt, histograms.loads(r.response_times)),
            histograms.merge_into(rqs, histograms.loads(r.request_sizes)),
            histograms.merge_into(rss, histograms.loads(r.response_sizes)),
        )
    return view


def contract_view(db: Database, size: int) -> View:
    """What the read side reads at hour/day interval: those rows plus minute rows not rolled yet."""
    with db.read() as conn:
        return aggregate(
            conn,
            size,
            sa.or_(
                metrics.c.granularity == size,
                sa.and_(metrics.c.granularity == MINUTE, sa.text(UNROLLED_MINUTES)),
            ),
        )


def truth(db: Database, size: int) -> View:
    with db.read() as conn:
        return aggregate(conn, size, metrics.c.granularity == MINUTE)


def assert_exact(db: Database) -> None:
    for size in (HOUR, DAY):
        assert contract_view(db, size) == truth(db, size)


def coarse_rows_are_one_per_key(db: Database) -> None:
    with db.read() as conn:
        for size in (HOUR, DAY):
            keys = [
                tuple(r)
                for r in conn.execute(
                    sa.select(
                        metrics.c.env_id,
                        metrics.c.bucket,
                        metrics.c.level,
                        metrics.c.endpoint_id,
                        metrics.c.consumer_id,
                        metrics.c.status_code,
                    ).where(metrics.c.granularity == size)
                )
            ]
            assert len(keys) == len(set(keys))


def test_hour_and_day_views_are_exact_before_during_and_after_rollup(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod", "dev"))
    writer = Writer(db)
    rng = random.Random(3)
    # Three hours around a midnight, in both envs.
    times = [T0 - 5400 + rng.uniform(0, 3 * 3600) for _ in range(40)]
    for at in times:
        assert writer.store(app.id, rng.choice(["prod", "dev"]), translate.sync(random_sync(rng, at)))
    assert_exact(db)

    now = max(times) + 30
    rolled = rollup.run(db, SETTINGS, now, batch_rows=7)  # many small batches
    assert rolled > 7
    assert_exact(db)
    coarse_rows_are_one_per_key(db)
    with db.read() as conn:
        open_rows = conn.execute(sa.select(metrics.c.bucket).where(sa.text(UNROLLED_MINUTES))).all()
    assert all(bucket >= now // 60 * 60 for (bucket,) in open_rows)  # the running minute waits

    # Late arrivals into hours already rolled, and more of the current minute.
    for at in [T0 - 5000, T0 + 100, now - 10, now]:
        assert writer.store(app.id, "prod", translate.sync(random_sync(rng, at)))
    assert_exact(db)
    rollup.run(db, SETTINGS, now + 3600)
    assert_exact(db)
    coarse_rows_are_one_per_key(db)
    with db.read() as conn:
        before = sorted(tuple(r) for r in conn.execute(sa.select(metrics)))
    assert rollup.run(db, SETTINGS, now + 3600) == 0  # idempotent
    with db.read() as conn:
        assert sorted(tuple(r) for r in conn.execute(sa.select(metrics))) == before
        unrolled = conn.execute(
            sa.select(sa.func.count()).select_from(metrics).where(sa.text(UNROLLED_MINUTES))
        ).scalar_one()
    assert unrolled == 0


def test_rollup_of_an_empty_database_does_nothing(db: Database) -> None:
    assert rollup.run(db, SETTINGS, T0) == 0


def log_line(at: float) -> RequestLogLine:
    return RequestLogLine.model_validate(
        {
            "uuid": str(uuid.uuid4()),
            "request": {"timestamp": at, "method": "GET", "path": "/x", "url": "http://a/x"},
            "response": {"status_code": 200, "response_time": 0.01},
        }
    )


def counts(db: Database) -> dict[str, Any]:
    with db.read() as conn:

        def n(table: sa.Table, *where: Any) -> int:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())

        return {
            "minute": n(metrics, metrics.c.granularity == MINUTE),
            "hour": n(metrics, metrics.c.granularity == HOUR),
            "day": n(metrics, metrics.c.granularity == DAY),
            "error_counts": n(error_counts),
            "error_groups": n(error_groups),
            "request_logs": n(request_logs),
            "received": n(received_messages),
            "consumer_hours": n(consumer_hours),
        }


def test_retention_deletes_rows_past_their_settings(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    now = T0 + 1000 * 86400
    clock_value = [now]
    clock: Callable[[], float] = lambda: clock_value[0]  # noqa: E731
    writer = Writer(db, clock=clock)
    sync = json.loads((DATA / "python_flask_sync.json").read_text())

    def store(at: float, received_at: float) -> None:
        clock_value[0] = received_at
        data = {**sync, "message_uuid": str(uuid.uuid4()), "timestamp": at}
        assert writer.store(app.id, "prod", translate.sync(Sync.model_validate(data)))
        assert writer.store(app.id, "prod", translate.request_log(str(uuid.uuid4()), [log_line(at)]))

    store(now - 900 * 86400, now - 3 * 3600)  # older than every retention
    store(now - 60 * 86400, now - 3 * 3600)  # only hour and day rows kept
    store(now - 10 * 86400, now - 3600)  # minute rows and request logs gone
    store(now - 3600, now - 60)  # everything kept
    rollup.run(db, SETTINGS, now)
    before = counts(db)
    stored = run_retention(db, SETTINGS, now)
    after = counts(db)
    per_sync = before["minute"] // 4
    assert after["minute"] == per_sync  # minute: 7 days
    assert after["hour"] == before["hour"] - before["hour"] // 4  # hour: 90 days (the oldest sync goes)
    assert after["day"] == before["day"] - before["day"] // 4  # day: 800 days
    assert after["error_counts"] == 3  # errors: 90 days
    assert after["error_groups"] == 1  # still counted in range
    assert after["request_logs"] == 2  # request logs: 15 days
    assert after["received"] == 2 * 2  # idempotency keys: 2 hours (a sync and a log each)
    per_hours = before["consumer_hours"] // 4
    assert per_hours > 0 and after["consumer_hours"] == 3 * per_hours  # per-consumer hours: as hour rows
    assert stored == sum(before.values()) - sum(after.values())
    assert run_retention(db, SETTINGS, now) == 0


def test_unrolled_minute_rows_survive_retention(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    writer = Writer(db)
    sync = json.loads((DATA / "python_flask_sync.json").read_text())
    old = T0 - 30 * 86400
    assert writer.store(app.id, "prod", translate.sync(Sync.model_validate({**sync, "timestamp": old})))
    run_retention(db, SETTINGS, T0)
    assert counts(db)["minute"] > 0  # rollup has not taken them yet: deleting them would lose requests
    rollup.run(db, SETTINGS, T0)
    run_retention(db, SETTINGS, T0)
    assert counts(db)["minute"] == 0 and counts(db)["hour"] > 0


def test_maintenance_runs_rollup_and_retention(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    writer = Writer(db)
    sync = json.loads((DATA / "python_flask_sync.json").read_text())
    assert writer.store(app.id, "prod", translate.sync(Sync.model_validate({**sync, "timestamp": T0})))
    Maintenance(db, SETTINGS, MAINTENANCE_JOBS, clock=lambda: T0 + 120).run_once()
    assert counts(db)["hour"] == counts(db)["minute"]
    assert_exact(db)
