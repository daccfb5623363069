"""Cardinality caps: past an app's cap, new consumers, endpoints and envs count under "other" buckets."""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa
from tallyhub.identifiers import OTHER_ENV
from tallyhub.ingest import batch
from tallyhub.ingest.writer import Writer
from tallyhub.storage import apps, caps
from tallyhub.storage.caps import Caps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import (
    LEVEL_CONSUMER_TOTAL,
    LEVEL_ENDPOINT,
    LEVEL_TOTAL,
    consumers,
    endpoints,
    envs,
    metrics,
)

T0 = 1_795_651_200.0  # a minute's start


def requests(keys: list[tuple[str | None, str]], count: int = 2) -> list[batch.RequestMetrics]:
    """`count` requests of each (consumer, path), GET, status 200, 20 ms."""
    return [
        batch.RequestMetrics(T0 + 5, consumer, "GET", path, 200, count, 0, 10 * count, {20: count}, {}, {})
        for consumer, path in keys
    ]


def sync(*entries: batch.RequestMetrics, startup: list[str] | None = None) -> batch.Batch:
    instance = batch.Instance(
        "0f6e7d8c-0000-4000-8000-000000000001",
        batch.Startup("python", {}, None, [batch.Endpoint("GET", p) for p in startup]) if startup else None,
        heartbeat=True,
    )
    return batch.Batch("sync", str(uuid.uuid4()), instances=[instance], requests=list(entries))


def summed(db: Database, level: int, column: sa.ColumnElement[int]) -> dict[int, int]:
    """Requests per endpoint_id or consumer_id at a level."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(column, sa.func.sum(metrics.c.request_count))
            .where(metrics.c.level == level)
            .group_by(column)
        )
        return {int(k): int(v) for k, v in rows}


def ids(db: Database, table: sa.Table, key: sa.ColumnElement[str]) -> dict[str, int]:
    with db.read() as conn:
        return {k: int(i) for k, i in conn.execute(sa.select(key, table.c.id))}


def test_consumers_past_the_cap_are_counted_under_other_consumers(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    writer = Writer(db, clock=lambda: T0 + 70, limits=Caps(consumers=3))
    first = [(f"c{i}", "/items") for i in range(2)]
    assert writer.store(app.id, "prod", sync(*requests(first)))
    flood = [(f"n{i}", "/items") for i in range(5)] + [("c0", "/items"), (None, "/items")]
    assert writer.store(app.id, "prod", sync(*requests(flood)))

    known = ids(db, consumers, consumers.c.identifier)
    assert sorted(known) == ["(other consumers)", "c0", "c1", "n0"]
    per_consumer = summed(db, LEVEL_CONSUMER_TOTAL, metrics.c.consumer_id)
    assert per_consumer[known["(other consumers)"]] == 4 * 2  # n1..n4
    assert per_consumer[known["c0"]] == 4 and per_consumer[known["n0"]] == 2
    assert summed(db, LEVEL_TOTAL, metrics.c.level) == {LEVEL_TOTAL: 9 * 2}  # nothing dropped
    with db.read() as conn:
        # The four overflowing consumers share one row per minute and status, not one each.
        other_rows = conn.execute(
            sa.select(sa.func.count()).where(
                metrics.c.level == LEVEL_CONSUMER_TOTAL, metrics.c.consumer_id == known["(other consumers)"]
            )
        ).scalar_one()
        assert other_rows == 1
        assert caps.hits(conn, app.id) == {"consumers": T0 + 70}

    # A known consumer keeps its own row; a later new one still goes to "other"; raising the cap admits it.
    assert writer.store(app.id, "prod", sync(*requests([("c1", "/items"), ("n9", "/items")])))
    assert summed(db, LEVEL_CONSUMER_TOTAL, metrics.c.consumer_id)[known["c1"]] == 4
    assert "n9" not in ids(db, consumers, consumers.c.identifier)
    raised = Writer(db, clock=lambda: T0 + 80, limits=Caps(consumers=5))
    assert raised.store(app.id, "prod", sync(*requests([("n9", "/items")])))
    assert "n9" in ids(db, consumers, consumers.c.identifier)


def test_endpoints_past_the_cap_are_counted_under_other_endpoints(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod", "dev"))
    writer = Writer(db, clock=lambda: T0 + 70, limits=Caps(endpoints=2))
    assert writer.store(app.id, "dev", sync(*requests([(None, "/a")])))
    # A startup listing three routes and traffic to a fourth: /a is the app's already (dev), /b fits.
    flood = sync(
        *requests([(None, "/a"), (None, "/b"), (None, "/c"), (None, "/d")]), startup=["/a", "/b", "/c"]
    )
    assert writer.store(app.id, "prod", flood)

    with db.read() as conn:
        rows = conn.execute(
            sa.select(
                envs.c.name, endpoints.c.method, endpoints.c.path, endpoints.c.id, endpoints.c.in_startup
            )
            .join(envs, envs.c.id == endpoints.c.env_id)
            .order_by(envs.c.name, endpoints.c.path)
        ).all()
        assert [(r.name, r.method, r.path, r.in_startup) for r in rows] == [
            ("dev", "GET", "/a", False),
            ("prod", "OTHER", "(other endpoints)", False),
            ("prod", "GET", "/a", True),
            ("prod", "GET", "/b", True),
        ]
        assert set(caps.hits(conn, app.id)) == {"endpoints"}
    other_id = next(r.id for r in rows if r.method == "OTHER")
    per_endpoint = summed(db, LEVEL_ENDPOINT, metrics.c.endpoint_id)
    assert per_endpoint[other_id] == 4  # /c and /d
    assert summed(db, LEVEL_TOTAL, metrics.c.level) == {LEVEL_TOTAL: 5 * 2}


def test_envs_past_the_cap_are_stored_in_the_other_env(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    writer = Writer(db, clock=lambda: T0 + 70, limits=Caps(envs=2))
    for env in ("staging", "qa", "perf", "prod"):
        assert writer.store(app.id, env, sync(*requests([("alice", "/items")])))
    with db.read() as conn:
        per_env = dict(
            conn.execute(
                sa.select(envs.c.name, sa.func.sum(metrics.c.request_count))
                .join(metrics, metrics.c.env_id == envs.c.id)
                .where(metrics.c.level == LEVEL_TOTAL)
                .group_by(envs.c.name)
            ).all()
        )
        assert caps.hits(conn, app.id) == {"envs": T0 + 70}
    assert per_env == {"prod": 2, "staging": 2, OTHER_ENV: 4}


def test_concurrent_writers_never_admit_more_than_the_cap(db: Database) -> None:
    """Four writers (four hub processes' caches) each adding 30 new consumers at once, cap 50."""
    app = apps.create_app(db, "Shop", ("prod",))
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def run(n: int) -> None:
        writer = Writer(db, clock=lambda: T0 + 70, limits=Caps(consumers=50))
        try:
            barrier.wait()
            writer.store(app.id, "prod", sync(*requests([(f"w{n}-{i}", "/items") for i in range(30)])))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    known = ids(db, consumers, consumers.c.identifier)
    assert len(known) == 50 + 1 and "(other consumers)" in known
    assert summed(db, LEVEL_TOTAL, metrics.c.level) == {LEVEL_TOTAL: 4 * 30 * 2}
    assert summed(db, LEVEL_CONSUMER_TOTAL, metrics.c.consumer_id)[known["(other consumers)"]] == 70 * 2
