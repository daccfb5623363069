"""Instances' CPU and memory per minute: written by real syncs (Hub v2, OTLP), rolled up, retained exactly."""

from __future__ import annotations

import gzip
import json
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tallyhub.app import MAINTENANCE_JOBS, run_retention
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.jobs.maintenance import Maintenance
from tallyhub.metrics import resources
from tallyhub.settings import load_settings
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, instance_minutes, resource_rollups

from tests.support.otlp import Requests, apitally_export
from tests.support.otlp_hub import MINUTE_NS, Hub

DATA = Path(__file__).parents[1] / "ingest" / "data"
SYNC = json.loads((DATA / "python_flask_sync.json").read_text())
T0 = 1_795_651_200.0  # a UTC midnight
SETTINGS = load_settings({"maintenance_interval_seconds": 60})

# (env name, bucket) -> (cpu min, avg, max, memory min, avg, max)
Expected = dict[tuple[str, int], tuple[Any, ...]]


def sync(instance: str, cpu: float | None, memory: int | None, at: float) -> Any:
    """A Hub v2 sync of the official Python client's, sent at `at` with these resources."""
    resources_sent = None if cpu is None and memory is None else {"cpu_percent": cpu, "memory_rss": memory}
    data = {
        **SYNC,
        "instance_uuid": instance,
        "message_uuid": str(uuid.uuid4()),
        "timestamp": at,
        "resources": resources_sent,
    }
    return translate.sync(Sync.model_validate(data))


def clocked_writer(db: Database) -> tuple[Writer, list[float]]:
    now = [T0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    return Writer(db, clock=clock), now


def minute_rows(db: Database) -> list[Any]:
    with db.read() as conn:
        return conn.execute(sa.select(instance_minutes).order_by(instance_minutes.c.id)).all()


def test_syncs_store_each_reported_sample_in_its_minute(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod", "dev"))
    writer, now = clocked_writer(db)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    now[0] = T0 + 5
    assert writer.store(app.id, "prod", sync(a, 10.0, 100_000_000, now[0]))
    assert writer.store(app.id, "prod", sync(b, 30.0, 300_000_000, now[0]))
    now[0] = T0 + 50  # a second report in the same minute is a second sample of it
    assert writer.store(app.id, "prod", sync(a, 12.5, 120_000_000, now[0]))
    now[0] = T0 + 65
    assert writer.store(app.id, "dev", sync(a, 1.0, None, now[0]))  # memory not reported: none in the sample
    assert writer.store(app.id, "dev", sync(b, None, None, now[0]))  # no resources: no sample
    got = [(r.bucket, r.instance_uuid, r.cpu_percent, r.memory_rss) for r in minute_rows(db)]
    assert sorted(got) == sorted(
        [
            (int(T0), a, 10.0, 100_000_000),
            (int(T0), a, 12.5, 120_000_000),
            (int(T0), b, 30.0, 300_000_000),
            (int(T0) + MINUTE, a, 1.0, None),
        ]
    )
    with db.read() as conn:
        prod = conn.execute(sa.text("SELECT id FROM envs WHERE name = 'prod'")).scalar_one()
        found = resources.read(conn, [prod], int(T0), int(T0) + HOUR, MINUTE)
    (spread,) = found.values()
    assert (spread.cpu.low, spread.cpu.mean, spread.cpu.high) == (10.0, 52.5 / 3, 30.0)
    memory = (spread.memory.low, spread.memory.mean, spread.memory.high)
    assert memory == (100_000_000, 520_000_000 / 3, 300_000_000)


def test_otlp_process_metrics_are_stored_per_minute(db: Database) -> None:
    hub = Hub(db)
    before = time.time()
    export = apitally_export(
        [Requests("GET", "/items", 200, [0.01])], "3f1e8f3a-0000-4000-8000-000000000009", MINUTE_NS
    )
    response = hub.post("metrics", gzip.compress(export.SerializeToString()), **{"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.content
    (row,) = minute_rows(db)
    assert (row.instance_uuid, row.cpu_percent, row.memory_rss) == (
        "3f1e8f3a-0000-4000-8000-000000000009",
        25.0,
        50_000_000,
    )
    assert int(before // MINUTE) * MINUTE <= row.bucket <= time.time()


def _store_random(db: Database, app_id: int, rng: random.Random) -> Expected:
    """Samples over three hours around a midnight in two envs; what each hour and day must show."""
    writer, now = clocked_writer(db)
    samples: dict[tuple[str, int], list[tuple[float | None, int | None]]] = {}
    instances = [str(uuid.uuid4()) for _ in range(4)]
    for minute in range(-90, 90, 3):
        for env in ("prod", "dev"):
            for instance in rng.sample(instances, rng.randint(1, 3)):
                cpu = rng.choice([None, round(rng.uniform(0, 200), 2)])
                memory = rng.choice([None, rng.randint(10**7, 10**9)])
                now[0] = T0 + minute * MINUTE + rng.uniform(0, 59)
                assert writer.store(app_id, env, sync(instance, cpu, memory, now[0]))
                if cpu is not None or memory is not None:
                    samples.setdefault((env, int(T0) + minute * MINUTE), []).append((cpu, memory))
    return samples  # type: ignore[return-value]


def _expected(samples: dict[tuple[str, int], list[tuple[Any, Any]]], size: int) -> Expected:
    grouped: dict[tuple[str, int], list[tuple[Any, Any]]] = {}
    for (env, minute), taken in samples.items():
        grouped.setdefault((env, minute // size * size), []).extend(taken)
    expected: Expected = {}
    for key, taken in grouped.items():
        cpus = [c for c, _ in taken if c is not None]
        mems = [m for _, m in taken if m is not None]
        expected[key] = (
            min(cpus, default=None),
            round(sum(cpus) / len(cpus), 6) if cpus else None,
            max(cpus, default=None),
            min(mems, default=None),
            round(sum(mems) / len(mems), 3) if mems else None,
            max(mems, default=None),
        )
    return expected


def _view(db: Database, size: int) -> Expected:
    with db.read() as conn:
        names = dict(conn.execute(sa.text("SELECT id, name FROM envs")).all())
        found = resources.read(conn, list(names), int(T0) - 2 * DAY, int(T0) + 2 * DAY, size)
    return {
        (names[env_id], bucket): (
            r.cpu.low,
            None if r.cpu.mean is None else round(r.cpu.mean, 6),
            r.cpu.high,
            r.memory.low,
            None if r.memory.mean is None else round(r.memory.mean, 3),
            r.memory.high,
        )
        for (env_id, bucket), r in found.items()
    }


def test_hour_and_day_views_are_exact_before_during_and_after_rollup(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod", "dev"))
    samples = _store_random(db, app.id, random.Random(7))
    expected = {size: _expected(samples, size) for size in (MINUTE, HOUR, DAY)}
    for size in (MINUTE, HOUR, DAY):
        assert _view(db, size) == expected[size]
    end = T0 + 90 * MINUTE
    # Part of the way (a batch, then stop) and then all of it, in many small batches.
    with db.write() as conn:
        resources._roll_batch(conn, int(T0), 17)
    for size in (MINUTE, HOUR, DAY):
        assert _view(db, size) == expected[size]
    rolled = resources.roll(db, SETTINGS, end, batch_rows=11)
    assert rolled + 17 == len(minute_rows(db))
    assert all(r.rolled for r in minute_rows(db))
    for size in (MINUTE, HOUR, DAY):
        assert _view(db, size) == expected[size]
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(resource_rollups)).scalar() == 2 * (
            4 + 2
        )  # 22:30-01:30: four hours, two days
    assert resources.roll(db, SETTINGS, end) == 0  # idempotent


def test_a_late_sample_of_a_rolled_minute_is_rolled_by_the_next_rollup_job(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    writer, now = clocked_writer(db)
    instance = str(uuid.uuid4())
    now[0] = T0 + 10
    assert writer.store(app.id, "prod", sync(instance, 10.0, 1000, now[0]))
    Maintenance(db, SETTINGS, MAINTENANCE_JOBS, clock=lambda: T0 + 120).run_once()
    assert [r.rolled for r in minute_rows(db)] == [True]
    # A client's retry queue delivers a sample of that minute after it was rolled.
    now[0] = T0 + 300
    assert writer.store(app.id, "prod", sync(instance, 90.0, 9000, T0 + 20))
    expected = {("prod", int(T0)): (10.0, 50.0, 90.0, 1000, 5000.0, 9000)}
    assert _view(db, HOUR) == expected == _view(db, MINUTE)
    Maintenance(db, SETTINGS, MAINTENANCE_JOBS, clock=lambda: T0 + 400).run_once()
    assert [r.rolled for r in minute_rows(db)] == [True, True]
    assert _view(db, HOUR) == expected == _view(db, DAY)


def test_retention_deletes_what_is_past_the_metric_settings(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    writer, now = clocked_writer(db)
    settings = load_settings({"retention_minute_days": 2, "retention_hour_days": 5, "retention_day_days": 9})
    for days_ago in (1, 3, 6, 10):
        now[0] = T0 - days_ago * DAY + 30
        assert writer.store(app.id, "prod", sync(str(uuid.uuid4()), float(days_ago), days_ago * 1000, now[0]))
    old_unrolled = T0 - 20 * DAY + 30
    resources.roll(db, settings, T0)
    now[0] = old_unrolled  # not rolled yet: retention keeps it (its sample lives nowhere else)
    assert writer.store(app.id, "prod", sync(str(uuid.uuid4()), 20.0, 20_000, now[0]))
    run_retention(db, settings, T0)
    assert sorted((r.cpu_percent, r.rolled) for r in minute_rows(db)) == [(1.0, True), (20.0, False)]
    with db.read() as conn:
        kept = conn.execute(
            sa.select(resource_rollups.c.granularity, resource_rollups.c.bucket, resource_rollups.c.cpu_max)
        ).all()
    day = int(T0 - DAY) // DAY * DAY
    assert sorted(kept) == sorted(
        [
            (HOUR, int(T0 - DAY), 1.0),
            (HOUR, int(T0 - 3 * DAY), 3.0),
            (DAY, day, 1.0),
            (DAY, day - 2 * DAY, 3.0),
            (DAY, day - 5 * DAY, 6.0),
        ]
    )
