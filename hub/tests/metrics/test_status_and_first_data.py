"""Requests per status code and the first bucket with data, read from minute, hour and day rows alike."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from tallyhub.metrics import reads
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, metrics

from tests.support.metric_rows import MetricWriter, Req

T0 = 1_795_651_200  # a UTC midnight


def _setup(db: Database) -> tuple[MetricWriter, Selection]:
    app = app_store.create_app(db, "Shop", ("prod",))
    writer = MetricWriter(db, app.id)
    with db.write() as conn:
        env_id = writer.env_id(conn, "prod")
    return writer, Selection((env_id,), {env_id: "prod"}, None, None, None)


def test_status_counts_are_exact_over_rolled_and_unrolled_rows(db: Database) -> None:
    writer, everything = _setup(db)
    rolled = [Req(T0 + 3 * HOUR + i * 600, "GET", "/a", s) for i, s in enumerate((200, 404, 404, 500, 422))]
    fresh = [Req(T0 + 2 * DAY + i * 60, "POST", "/b", s) for i, s in enumerate((201, 404, 503))]
    writer.write(rolled, rolled=True)
    writer.write(fresh)
    expected = Counter(r.status for r in rolled + fresh)
    with db.read() as conn:
        for interval in ("hour", "day"):  # hour and day rows for the rolled part, minutes for the rest
            tr = TimeRange(T0, T0 + 3 * DAY, interval)
            assert reads.status_counts(conn, everything, tr) == dict(expected), interval
        only_errors = Selection(everything.env_ids, everything.env_names, None, None, (400, 599))
        counted = reads.status_counts(conn, only_errors, TimeRange(T0, T0 + 3 * DAY, "hour"))
        assert counted == {s: n for s, n in expected.items() if s >= 400}


def test_first_bucket_is_the_finest_granularity_retention_kept(db: Database) -> None:
    writer, everything = _setup(db)
    with db.read() as conn:
        assert reads.first_bucket(conn, everything.env_ids) is None
    writer.write([Req(T0 + 10 * HOUR + 17 * MINUTE + 5, "GET", "/a", 200)], rolled=True)
    writer.write([Req(T0 + 2 * DAY, "GET", "/a", 200)])
    with db.read() as conn:
        assert reads.first_bucket(conn, everything.env_ids) == T0 + 10 * HOUR + 17 * MINUTE
    for granularity, left in ((MINUTE, T0 + 10 * HOUR), (HOUR, T0)):
        # Retention deleted the rolled rows of this granularity: the coarser rows still date the start.
        with db.write() as conn:
            conn.execute(
                sa.delete(metrics).where(metrics.c.granularity == granularity, metrics.c.bucket < T0 + DAY)
            )
        with db.read() as conn:
            assert reads.first_bucket(conn, everything.env_ids) == left, granularity
