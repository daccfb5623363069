"""Group commit: syncs stored at once by several threads share a transaction, and still count exactly once.

The tests hold the database's write lock from another connection while the threads store, so that one
thread's transaction waits and the others queue behind it: then they are stored together, as under load.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tallyhub.ingest import batch
from tallyhub.ingest.group_commit import GroupCommit, Job
from tallyhub.ingest.writer import UnknownApp, Writer
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import LEVEL_TOTAL, consumer_hours, metrics, received_messages
from tallyhub.storage.tables import apps as apps_table
from tallyhub.storage.tables import instances as instances_table

from tests.support.hub_process import HubProcess

T0 = 1_795_651_200.0  # a minute's start
DATA = Path(__file__).parent / "data"
THREADS = 8


def _sync(key: int, scale: int = 1) -> batch.Batch:
    """A sync of 2 endpoints x 2 consumers x 2 statuses, counts `scale` times the base."""
    requests = [
        batch.RequestMetrics(
            T0 + 5,
            consumer,
            "GET",
            path,
            status,
            3 * scale,
            30 * scale,
            60 * scale,
            {10: 2 * scale, 20: scale},
            {0: 3 * scale},
            {1: 3 * scale},
        )
        for path in ("/items", "/orders")
        for consumer in ("alice", "bob")
        for status in (200, 500)
    ]
    return batch.Batch(
        "sync",
        f"00000000-0000-4000-8000-{key:012d}",
        instances=[batch.Instance(f"10000000-0000-4000-8000-{key:012d}", heartbeat=True)],
        requests=requests,
        consumers=[batch.Consumer(T0 + 5, "alice", "Alice", "Paying")],
    )


@contextmanager
def _writes_held(db: Database) -> Iterator[None]:
    """Every write transaction of `db` waits while this holds the write lock (SQLite) or the receipts."""
    if db.is_sqlite:
        conn = sqlite3.connect(str(db.url.database), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with db.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("LOCK TABLE received_messages IN EXCLUSIVE MODE")
        yield


def _queued(writer: Writer) -> int:
    return len(writer._groups._queue)


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _store_at_once(writer: Writer, stores: list[tuple[int, batch.Batch]]) -> list[bool | BaseException]:
    """Store each (app, batch) from its own thread: the first waits on the held lock, the rest queue."""
    results: list[bool | BaseException] = [False] * len(stores)

    def store(i: int) -> None:
        app_id, b = stores[i]
        try:
            results[i] = writer.store(app_id, "prod", b)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=store, args=(i,)) for i in range(len(stores))]
    with _writes_held(writer.db):
        threads[0].start()
        _wait_for(lambda: writer._groups._leading)
        time.sleep(0.2)  # past taking its (empty) queue: it now waits on the held lock
        for t in threads[1:]:
            t.start()
        _wait_for(lambda: _queued(writer) == len(stores) - 1)
    for t in threads:
        t.join(30)
    return results


def _requests_stored(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(metrics.c.request_count), 0)).where(
                    metrics.c.level == LEVEL_TOTAL
                )
            ).scalar_one()
        )


def _count(db: Database, table: sa.Table) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_concurrent_syncs_share_a_transaction_and_write_one_syncs_rows(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    writer = Writer(db, clock=lambda: T0 + 70)
    alone = Writer(db, clock=lambda: T0 + 70)
    assert alone.store(app.id, "prod", _sync(999))  # what one sync writes, stored on its own
    rows_of_one = _count(db, metrics)

    results = _store_at_once(writer, [(app.id, _sync(i, scale=i + 1)) for i in range(THREADS)])

    assert results == [True] * THREADS
    sent = 24 * (1 + sum(i + 1 for i in range(THREADS)))  # 8 keys x 3 requests per sync and scale
    assert _requests_stored(db) == sent
    # The first thread's sync alone, then the seven queued behind it in one group: their rows summed.
    assert _count(db, metrics) == 3 * rows_of_one
    with db.read() as conn:
        per_consumer = conn.execute(sa.select(sa.func.sum(consumer_hours.c.requests))).scalar_one()
        hist = conn.execute(
            sa.select(metrics.c.response_times, metrics.c.request_count).where(
                metrics.c.level == LEVEL_TOTAL, metrics.c.status_code == 200
            )
        ).all()
    assert per_consumer == sent
    assert sorted(hist, key=lambda r: r[1]) == [
        ('{"10":8,"20":4}', 12),  # the sync stored alone, and the first thread's (both scale 1)
        ('{"10":8,"20":4}', 12),
        ('{"10":280,"20":140}', 420),  # the seven queued behind it, one row: scales 2..8
    ]


def test_a_retry_in_the_same_group_or_after_it_counts_once(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    writer = Writer(db, clock=lambda: T0 + 70)
    stores = [(app.id, _sync(i)) for i in range(4)] + [(app.id, _sync(2)), (app.id, _sync(3))]

    results = _store_at_once(writer, stores)

    assert results == [True, True, True, True, False, False]
    assert not writer.store(app.id, "prod", _sync(1))  # a retry after the group: acknowledged only
    assert _requests_stored(db) == 4 * 24
    assert _count(db, received_messages) == 4


def test_a_payload_that_fails_in_a_group_fails_alone(db: Database) -> None:
    """A sync for an app deleted meanwhile fails the group's transaction: the others are stored one by
    one, every one acknowledged is stored, and the failed one gets its own error."""
    app = apps.create_app(db, "Shop", ("prod",))
    gone = apps.create_app(db, "Gone", ("prod",))
    writer = Writer(db, clock=lambda: T0 + 70)
    with db.write() as conn:
        conn.execute(sa.delete(apps_table).where(apps_table.c.id == gone.id))
    stores = [(app.id, _sync(i)) for i in range(THREADS)]
    stores[4] = (gone.id, _sync(4))

    results = _store_at_once(writer, stores)

    assert isinstance(results[4], UnknownApp)
    acked = [i for i, r in enumerate(results) if r is True]
    assert acked == [0, 1, 2, 3, 5, 6, 7]
    assert _requests_stored(db) == 24 * len(acked)
    with db.read() as conn:
        keys = set(conn.execute(sa.select(received_messages.c.uuid)).scalars())
    assert keys == {_sync(i).key for i in acked}


def test_groups_stay_within_their_bounds() -> None:
    """Jobs queued behind a running group go in the next one: at most `max_jobs`, at most `max_bytes`
    (a larger job alone), in the order they came; every caller gets its own job's outcome."""
    started = threading.Event()
    release = threading.Event()
    groups: list[list[int]] = []

    def run(jobs: list[Job[int]]) -> None:
        groups.append([job.item for job in jobs])
        if len(groups) == 1:
            started.set()
            release.wait(30)
        for job in jobs:
            job.outcome = job.item % 2 == 0

    committer: GroupCommit[int] = GroupCommit(run, max_jobs=3, max_bytes=100)
    sizes = {0: 10, 1: 10, 2: 10, 3: 10, 4: 90, 5: 10, 6: 200, 7: 10}
    outcomes: dict[int, bool] = {}

    def submit(item: int) -> None:
        outcomes[item] = committer.submit(item, sizes[item])

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    started.wait(30)
    threads = []
    for item in range(1, 8):
        threads.append(threading.Thread(target=submit, args=(item,)))
        threads[-1].start()
        _wait_for(lambda item=item: len(committer._queue) == item)  # type: ignore[misc]
    release.set()
    for t in [first, *threads]:
        t.join(30)
    assert groups == [[0], [1, 2, 3], [4, 5], [6], [7]]
    assert outcomes == {i: i % 2 == 0 for i in range(8)}
    assert not committer._leading


def test_an_error_reaches_only_the_caller_whose_job_it_is() -> None:
    def run(jobs: list[Job[int]]) -> None:
        for job in jobs:
            if job.item == 1:
                job.error = ValueError("bad payload")
            else:
                job.outcome = True

    committer: GroupCommit[int] = GroupCommit(run, max_jobs=8, max_bytes=100)
    assert committer.submit(0, 1)
    with pytest.raises(ValueError, match="bad payload"):
        committer.submit(1, 1)
    assert committer.submit(2, 1)


def test_syncs_posted_at_once_to_a_hub_are_each_counted_once(hub: HubProcess) -> None:
    """Over real sockets: 8 threads post 48 syncs (and a retry of each of 8) at once; every answer is 202
    and the stored counts are exactly what was sent, retries once."""
    client_id = hub.create_app("Shop", "prod")["client_id"]
    sync = json.loads((DATA / "python_flask_sync.json").read_text())
    sync["timestamp"] = time.time()
    bodies = [json.dumps({**sync, "message_uuid": str(uuid.uuid4())}) for _ in range(48)]
    sent = sum(r["request_count"] for r in sync["requests"]) * len(bodies)

    def post(body: str) -> str:
        with httpx.Client(timeout=60) as client:
            response = client.post(
                f"{hub.url}/v2/{client_id}/prod/sync",
                content=body,
                headers={"content-type": "application/json"},
            )
        assert response.status_code == 202, response.text
        return str(response.json()["status"])

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(post, [*bodies, *bodies[:8]]))
    assert sorted(answers) == ["duplicate"] * 8 + ["ok"] * 48
    db = Database(hub.database_url)
    try:
        assert _requests_stored(db) == sent
        assert _count(db, received_messages) == 48
    finally:
        db.dispose()


def _with_instance(key: int, instance: batch.Instance) -> batch.Batch:
    b = _sync(key)
    b.instances = [instance]
    return b


def test_a_group_records_its_receipts_and_its_instances_in_one_statement_each(db: Database) -> None:
    """The statements a group costs do not grow with its payloads: on PostgreSQL each is a round trip
    that the whole group waits for (bench.otlp's figure). The first sync is stored alone, the seven
    queued behind it in one group."""
    app = apps.create_app(db, "Shop", ("prod",))
    writer = Writer(db, clock=lambda: T0 + 70)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.split("(")[0].strip())

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        results = _store_at_once(writer, [(app.id, _sync(i)) for i in range(THREADS)])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)

    assert results == [True] * THREADS
    assert statements.count("INSERT INTO received_messages") == 2
    assert statements.count("INSERT INTO instances") == 2
    assert _count(db, received_messages) == THREADS
    with db.read() as conn:
        synced = conn.execute(sa.select(sa.func.count()).where(instances_table.c.last_sync_at == T0 + 70))
        assert synced.scalar_one() == THREADS


def test_reports_of_one_instance_in_a_group_leave_its_row_as_stored_in_turn(db: Database) -> None:
    """Two syncs and an OTLP-style description of one instance in one group: the later figure wins, a
    figure not reported keeps the earlier one, a description fills what no startup told."""
    app = apps.create_app(db, "Shop", ("prod",))
    writer = Writer(db, clock=lambda: T0 + 70)
    uuid_ = "20000000-0000-4000-8000-000000000001"
    stores = [
        (app.id, _sync(0)),  # stored alone: the others queue behind it
        (app.id, _with_instance(1, batch.Instance(uuid_, heartbeat=True, cpu_percent=10.0, memory_rss=100))),
        (app.id, _with_instance(2, batch.Instance(uuid_, heartbeat=True, cpu_percent=30.0))),
        (
            app.id,
            _with_instance(3, batch.Instance(uuid_, client="python:apitally-otlp", versions={"a": "1"})),
        ),
    ]

    results = _store_at_once(writer, stores)

    assert results == [True] * 4
    with db.read() as conn:
        row = conn.execute(
            sa.select(
                instances_table.c.cpu_percent,
                instances_table.c.memory_rss,
                instances_table.c.client,
                instances_table.c.versions,
            ).where(instances_table.c.instance_uuid == uuid_)
        ).one()
    assert tuple(row) == (30.0, 100, "python:apitally-otlp", {"a": "1"})
