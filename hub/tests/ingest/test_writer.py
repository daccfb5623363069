"""The writer stores any mix a batch holds, dated per entry, as one message (what a second protocol needs)."""

from __future__ import annotations

import random

import sqlalchemy as sa
from tallyhub.ingest import batch
from tallyhub.ingest.writer import Writer
from tallyhub.storage import apps, endpoint_settings
from tallyhub.storage.database import Database
from tallyhub.storage.tables import LEVEL_TOTAL, error_counts, instances, metrics, request_logs, trace_items

T0 = 1_795_651_200.0  # a minute's start


def test_a_mixed_batch_is_stored_once_with_each_entry_in_its_own_minute(db: Database) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    startup = batch.Startup("otel", {"python": "3.11"}, "1.2", [batch.Endpoint("GET", "/items/{id}")])
    mixed = batch.Batch(
        "export",
        "9b1d6f3c-2d1e-4c51-9b0e-1f2a3b4c5d6e",
        instances=[batch.Instance("0f6e7d8c-0000-4000-8000-000000000001", startup, heartbeat=True)],
        requests=[
            batch.RequestMetrics(at, "alice", "GET", "/items/{id}", 200, 2, 0, 10, {20: 2}, {}, {0: 2})
            for at in (T0 + 5, T0 + 65)
        ],
        server_errors=[
            batch.ServerError(at, None, "GET", "/items/{id}", "builtins.ValueError", "bad", "tb", None, 1)
            for at in (T0 + 5, T0 + 65)
        ],
        request_logs=[
            batch.RequestLog(
                "5c0a2a57-0000-4000-8000-000000000002",
                T0 + 65,
                "GET",
                "/items/{id}",
                "http://a/items/1",
                200,
                0.02,
                consumer="alice",
            )
        ],
    )
    writer = Writer(db, clock=lambda: T0 + 70)
    assert writer.store(app.id, "prod", mixed)
    assert not writer.store(app.id, "prod", mixed)
    with db.read() as conn:
        totals = conn.execute(sa.select(metrics.c.bucket).where(metrics.c.level == LEVEL_TOTAL)).scalars()
        assert sorted(totals) == [T0, T0 + 60]
        assert sorted(conn.execute(sa.select(error_counts.c.bucket)).scalars()) == [T0, T0 + 60]
        (instance,) = conn.execute(sa.select(instances))
        assert (instance.client, instance.last_startup_at, instance.last_sync_at) == (
            "otel",
            T0 + 70,
            T0 + 70,
        )
        (log,) = conn.execute(sa.select(request_logs))
        assert log.endpoint_id is not None and log.consumer_id is not None


def _requests_stored(db: Database) -> int:
    with db.read() as conn:
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(metrics.c.request_count), 0)).where(
                metrics.c.level == LEVEL_TOTAL
            )
        ).scalar_one()
    return int(total)


def test_an_exclusion_holds_from_the_moment_it_is_saved_in_every_process(db: Database) -> None:
    """The writer prepares a batch for the exclusions it read last, but stores what holds at commit."""
    app = apps.create_app(db, "Shop", ("prod",))
    writers = [Writer(db, clock=lambda: T0 + 70), Writer(db, clock=lambda: T0 + 70)]  # two hub processes
    sent = iter(range(1, 100))

    def sync(writer: Writer) -> None:
        probe = batch.RequestMetrics(T0 + 5, None, "GET", "/healthz", 200, 7, 0, 0, {0: 7}, {}, {})
        items = batch.RequestMetrics(T0 + 5, None, "GET", "/items", 200, 5, 0, 0, {20: 5}, {}, {})
        key = f"9b1d6f3c-2d1e-4c51-9b0e-{next(sent):012d}"
        assert writer.store(app.id, "prod", batch.Batch("sync", key, requests=[probe, items]))

    sync(writers[0])
    sync(writers[1])
    assert _requests_stored(db) == 24
    with db.write() as conn:  # saved through the other process's settings page
        endpoint_settings.update(conn, app.id, "GET", "/healthz", {"excluded": True})
    sync(writers[0])  # last read: nothing excluded
    assert _requests_stored(db) == 24 + 5
    sync(writers[0])
    with db.write() as conn:
        endpoint_settings.update(conn, app.id, "GET", "/healthz", {"excluded": False})
    sync(writers[0])  # last read: /healthz excluded
    sync(writers[1])
    assert _requests_stored(db) == 24 + 5 + 5 + 12 + 12


def test_error_counts_are_stored_exactly_through_the_bulk_path(db: Database) -> None:
    """Error counts go to the driver as tuples (COPY on PostgreSQL): every (error, minute, consumer) row
    holds the sum of what was sent for it, with the last sentry id given, on each engine."""
    rng = random.Random(5)
    app = apps.create_app(db, "Shop", ("prod",))
    errors = []
    expected: dict[tuple[str, float, str | None], list[object]] = {}
    for _ in range(60):
        kind, minute, consumer = (
            rng.choice("ABC"),
            T0 + 60 * rng.randint(0, 2),
            rng.choice([None, "c1", "c2"]),
        )
        count, sentry = rng.randint(1, 9), rng.choice([None, None, f"evt-{rng.randint(0, 99)}"])
        errors.append(
            batch.ServerError(
                minute + 5, consumer, "GET", "/items", f"mod.{kind}Error", kind, "tb", sentry, count
            )
        )
        total = expected.setdefault((kind, minute, consumer), [0, None])
        total[0] = int(total[0]) + count  # type: ignore[call-overload]
        total[1] = sentry or total[1]
    Writer(db, clock=lambda: T0 + 200).store(
        app.id, "prod", batch.Batch("sync", "5b1d6f3c-2d1e-4c51-9b0e-1f2a3b4c5d6e", server_errors=errors)
    )
    with db.read() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT g.msg, c.bucket, k.identifier, c.count, c.sentry_event_id FROM error_counts c "
                "JOIN error_groups g ON g.id = c.group_id "
                "LEFT JOIN consumers k ON k.id = c.consumer_id"
            )
        ).all()
    stored = {(msg, float(bucket), who): [count, sentry] for msg, bucket, who, count, sentry in rows}
    assert len(rows) == len(stored) == len(expected)
    assert stored == expected


def test_an_excluded_endpoints_trace_goes_with_its_request_log(db: Database) -> None:
    """The child spans and logs of an excluded request's trace (OTLP sends them beside its SERVER span)
    are dropped with it; other traces keep theirs."""
    app = apps.create_app(db, "Shop", ("prod",))
    with db.write() as conn:
        endpoint_settings.update(conn, app.id, "GET", "/healthz", {"excluded": True})

    def logged(uuid_end: str, path: str, trace_id: str) -> batch.RequestLog:
        uuid = f"5c0a2a57-0000-4000-8000-{uuid_end:0>12}"
        return batch.RequestLog(uuid, T0 + 5, "GET", path, f"http://a{path}", 200, 0.01, trace_id=trace_id)

    def child(trace_id: str, span_id: str) -> batch.TraceItem:
        span = batch.Span(span_id * 16, "a" * 16, "SELECT", "INTERNAL", 1, 2, None, None)
        return batch.TraceItem(trace_id, span_id * 16, T0 + 5, span=span)

    probe, items = "1" * 32, "2" * 32
    export = batch.Batch(
        "export",
        "9b1d6f3c-2d1e-4c51-9b0e-1f2a3b4c5d6f",
        request_logs=[logged("1", "/healthz", probe), logged("2", "/items", items)],
        trace_items=[child(probe, "b"), child(items, "c"), child(probe, "d")],
    )
    assert Writer(db, clock=lambda: T0 + 70).store(app.id, "prod", export)
    with db.read() as conn:
        assert [r.path for r in conn.execute(sa.select(request_logs))] == ["/items"]
        assert [(r.trace_id, r.span_id) for r in conn.execute(sa.select(trace_items))] == [(items, "c" * 16)]
