"""Retention of OTLP bookkeeping: cumulative stream totals and counting-source claims of silent senders go."""

from __future__ import annotations

import sqlalchemy as sa
from tallyhub.ingest import request_sources, retention
from tallyhub.metrics import streams
from tallyhub.settings import load_settings
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import metric_streams
from tallyhub.storage.tables import request_sources as sources_table

T0 = 1_795_651_200.0
DAY = 86400.0
KEEP = retention.OTLP_STATE_KEEP_SECONDS


def _point(stream: str, time_s: float, count: int) -> streams.CumulativePoint:
    return streams.CumulativePoint(
        stream, 1, int(time_s * 1e9), None, "GET", "/items", 200, streams.DURATION, count, 0, {10: count}
    )


def _export(db: Database, env_id: int, at: float, instances: list[str]) -> None:
    """What storing one cumulative export per instance does to the bookkeeping, at `at`."""
    with db.write() as conn:
        request_sources.claim(conn, env_id, {(i, "metrics") for i in instances}, at)
        streams.deltas(conn, env_id, [_point(f"stream-{i}", at, int(at - T0) + 1) for i in instances], at)


def _kept(db: Database) -> tuple[set[str], set[str]]:
    with db.read() as conn:
        sources = set(conn.execute(sa.select(sources_table.c.instance)).scalars())
        kept_streams = set(conn.execute(sa.select(metric_streams.c.stream_key)).scalars())
    return sources, kept_streams


def test_the_bookkeeping_of_silent_senders_is_deleted_and_of_live_ones_kept(db: Database) -> None:
    app = apps.create_app(db, "shop", ("prod",))
    with db.write() as conn:
        env_id = apps.ensure_env(conn, app.id, "prod")
    # Both instances start together; "live" goes on exporting (a claim is touched hourly), "gone" stops.
    _export(db, env_id, T0, ["live", "gone"])
    for day in range(1, 9):
        _export(db, env_id, T0 + day * DAY, ["live"])
    now = T0 + 8 * DAY + 60
    settings = load_settings()
    assert retention.run(db, settings, now) >= 2
    assert _kept(db) == ({"live"}, {"stream-live"})
    # Within the keep window nothing goes, however old the claim's first sight.
    assert retention.run(db, settings, T0 + 8 * DAY + KEEP - 1) == 0
    assert _kept(db) == ({"live"}, {"stream-live"})


def test_a_claim_is_touched_at_most_hourly(db: Database) -> None:
    app = apps.create_app(db, "shop", ("prod",))
    with db.write() as conn:
        env_id = apps.ensure_env(conn, app.id, "prod")
    seen = []
    for at in (T0, T0 + 60, T0 + request_sources.TOUCH_SECONDS + 1):
        _export(db, env_id, at, ["a"])
        with db.read() as conn:
            seen.append(conn.execute(sa.select(sources_table.c.last_seen)).scalar_one())
    assert seen == [T0, T0, T0 + request_sources.TOUCH_SECONDS + 1]
