"""Consumer lists, groups and the new/returning chart read from the per-consumer hours give exactly what
the metric rows give, for random ranges (on hour boundaries and not), every sort key in both directions,
with and without env and group filters, on both engines; also after rollup and retention.

Traffic comes through ingestion (Writer) into two envs of a capped app (the last consumers land in the
"other" bucket), at random minutes of the last 20 hours; the older part is rolled up, the rest is left
as minute rows. "The metric rows" are the reads used before the per-consumer hours (forced by making
`covers` say no); each example first checks that the new path is the one taken.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any
from unittest import mock

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tallyhub.analytics import consumers, query
from tallyhub.analytics.paging import Page
from tallyhub.analytics.selection import resolve
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.metrics import consumer_hours, retention, rollup
from tallyhub.settings import load_settings
from tallyhub.storage import app_admin, endpoint_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.caps import OTHER_CONSUMER, Caps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE
from tallyhub.storage.tables import consumers as consumer_rows

CAP = 40
NOW = time.time()
SPAN = 20 * HOUR
FUNCTION_DB = [HealthCheck.function_scoped_fixture]  # the data set is made once and only read after


def _load(db: Database) -> int:
    """An app with 50 would-be consumers (cap 40) over the last 20 hours; returns its id."""
    rnd = random.Random(26)
    app = app_store.create_app(db, "Shop", ("prod", "dev"))
    writer = Writer(db, limits=Caps(consumers=CAP, endpoints=100, envs=5))
    for _ in range(30):
        at = NOW - rnd.uniform(0, SPAN)
        entries = []
        for c in rnd.sample(range(50), rnd.randint(1, 12)):
            for status in rnd.sample((200, 201, 404, 500), rnd.randint(1, 2)):
                count = rnd.randint(1, 4)
                entries.append(
                    {
                        "consumer": f"c{c:02d}" if c % 9 else None,  # some requests without a consumer
                        "method": "GET",
                        "path": rnd.choice(("/a", "/b")),
                        "status_code": status,
                        "request_count": count,
                        "request_size_sum": 0,
                        "response_size_sum": 0,
                        "response_times": {"20": count},
                        "request_sizes": {},
                        "response_sizes": {},
                    }
                )
        named = [{"identifier": f"c{c:02d}", "name": None, "group": f"g{c % 4}"} for c in range(0, 50, 3)]
        body = {
            "instance_uuid": str(uuid.uuid4()),
            "message_uuid": str(uuid.uuid4()),
            "timestamp": at,
            "requests": entries,
            "validation_errors": [],
            "server_errors": [],
            "consumers": named,
            "resources": None,
        }
        writer.store(
            app.id, rnd.choice(("prod", "dev")), translate.sync(Sync.model_validate_json(orjson.dumps(body)))
        )
    # Rolled up to 6 hours ago: hour/day rows beside minute rows not rolled yet.
    rollup.run(db, load_settings(environ={}), NOW - 6 * HOUR)
    return app.id


@pytest.fixture
def shop(db: Database) -> tuple[Database, int]:
    return db, _load(db)


ranges = st.tuples(
    st.integers(0, SPAN // MINUTE), st.integers(1, SPAN // MINUTE), st.sampled_from(("minute", "hour", "day"))
)
filters = st.sampled_from(
    [
        query.Filters(),
        query.Filters(env="prod"),
        query.Filters(group="g1"),
        query.Filters(env="dev", group="g2"),
    ]
)


def _both(
    db: Database, app_id: int, wanted: query.Filters, rng: tuple[float, float, str], read: Any
) -> tuple[Any, Any, bool]:
    """`read(conn, resolved, tr)` from the per-consumer hours and from the metric rows; whether the first
    was read from the per-consumer hours."""
    start, end, interval = rng
    with db.read() as conn:
        resolved = resolve(conn, app_id, wanted)
        tr = query.parse({"start": str(start), "end": str(end), "interval": interval}, NOW, apdex_t=500).range
        fast = read(conn, resolved, tr)
        used = consumer_hours.covers(conn, resolved, tr)
        with mock.patch.object(consumer_hours, "covers", return_value=False):
            exact = read(conn, resolved, tr)
    return fast, exact, used


def _random(rng: tuple[int, int, str]) -> tuple[float, float, str]:
    """A range from minute offsets, 7 s past a minute (widened to whole buckets of its interval)."""
    back, length, interval = rng
    start = NOW - SPAN + back * MINUTE + 7
    return start, min(start + length * MINUTE, NOW + MINUTE), interval


def _has_whole_hour(rng: tuple[float, float, str]) -> bool:
    start, end, interval = rng
    tr = query.parse({"start": str(start), "end": str(end), "interval": interval}, NOW, apdex_t=500).range
    return -(-tr.start // HOUR) * HOUR + HOUR <= tr.end


def _checked(db: Database, app_id: int, wanted: query.Filters, rng: Any, read: Any) -> None:
    fast, exact, used = _both(db, app_id, wanted, _random(rng), read)
    assert used == _has_whole_hour(_random(rng)), (
        "the per-consumer hours answer every range with a whole hour"
    )
    assert fast == exact


@settings(max_examples=60, deadline=None, suppress_health_check=FUNCTION_DB)
@given(
    rng=ranges,
    wanted=filters,
    sort=st.sampled_from(consumers.CONSUMER_SORTS),
    desc=st.booleans(),
    offset=st.sampled_from((0, 0, 7, 30)),
)
def test_consumer_pages_match_the_metric_rows(
    shop: tuple[Database, int], rng: Any, wanted: Any, sort: str, desc: bool, offset: int
) -> None:
    db, app_id = shop
    page = Page(15, offset, sort, desc)
    _checked(
        db,
        app_id,
        wanted,
        rng,
        lambda c, r, tr, page=page: consumers.list_consumers(c, app_id, r, tr, 500, page, False),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=FUNCTION_DB)
@given(rng=ranges, wanted=filters, sort=st.sampled_from(consumers.GROUP_SORTS), desc=st.booleans())
def test_group_pages_match_the_metric_rows(
    shop: tuple[Database, int], rng: Any, wanted: Any, sort: str, desc: bool
) -> None:
    db, app_id = shop
    page = Page(3, 1, sort, desc)
    _checked(
        db, app_id, wanted, rng, lambda c, r, tr, page=page: consumers.list_groups(c, app_id, r, tr, page)
    )


@settings(max_examples=40, deadline=None, suppress_health_check=FUNCTION_DB)
@given(rng=ranges, wanted=filters, by_day=st.booleans())
def test_activity_matches_the_metric_rows(
    shop: tuple[Database, int], rng: Any, wanted: Any, by_day: bool
) -> None:
    db, app_id = shop
    _checked(db, app_id, wanted, rng, lambda c, r, tr: consumers.activity(c, r, tr, by_day))


def test_expected_statuses_are_successes_in_consumer_and_group_lists(shop: tuple[Database, int]) -> None:
    # The per-consumer hours count every status >= 400 as an error; an endpoint's expected statuses are not.
    db, app_id = shop
    with db.write() as conn:
        endpoint_settings.update(conn, app_id, "GET", "/a", {"expected_statuses": [404]})
    by_errors, by_requests = Page(100, 0, "errors", True), Page(100, 0, "requests", True)

    def assert_exact(read: Any) -> None:
        listed, exact, _ = _both(db, app_id, query.Filters(), (NOW - DAY, NOW, "hour"), read)
        assert listed == exact

    assert_exact(lambda c, r, tr: consumers.list_consumers(c, app_id, r, tr, 500, by_errors, False))
    assert_exact(lambda c, r, tr: consumers.list_consumers(c, app_id, r, tr, 500, by_requests, False))
    assert_exact(lambda c, r, tr: consumers.list_groups(c, app_id, r, tr, by_errors))
    assert_exact(lambda c, r, tr: consumers.list_groups(c, app_id, r, tr, by_requests))


def test_the_other_bucket_is_listed_with_every_request_past_the_cap(shop: tuple[Database, int]) -> None:
    db, app_id = shop
    with db.read() as conn:
        resolved = resolve(conn, app_id, query.Filters())
        tr = query.parse(
            {"start": str(NOW - DAY), "end": str(NOW), "interval": "hour"}, NOW, apdex_t=500
        ).range
        assert consumer_hours.covers(conn, resolved, tr)
        listed, total = consumers.list_consumers(
            conn, app_id, resolved, tr, 500, Page(100, 0, "requests", True), False
        )
        other = conn.execute(
            sa.select(consumer_rows.c.id).where(consumer_rows.c.identifier == OTHER_CONSUMER)
        ).scalar_one()
    assert total == CAP + 1 and OTHER_CONSUMER in [c["identifier"] for c in listed]
    with db.read() as conn:
        stored = conn.execute(
            sa.select(sa.func.sum(consumer_hours.consumer_hours.c.requests)).where(
                consumer_hours.consumer_hours.c.consumer_id == other
            )
        ).scalar_one()
    assert [c["requests"] for c in listed if c["identifier"] == OTHER_CONSUMER] == [stored]
    assert stored > 0


def test_rollup_and_retention_keep_the_hours_consistent(shop: tuple[Database, int]) -> None:
    """After everything is rolled up and hours are deleted by retention, a range over the deleted hours is
    read from the metric rows (day rows), and a range after them still matches the metric rows."""
    db, app_id = shop
    later = NOW + HOUR
    rollup.run(db, load_settings(environ={}), later)
    keep = load_settings({"retention_hour_days": 1}, environ={})
    # Hour rows older than 10 hours ago go: as if a day had passed with retention_hour_days = 1.
    retention.run(db, keep, NOW - 10 * HOUR + DAY)
    cutoff = NOW - 10 * HOUR
    since = -int(-cutoff // HOUR) * HOUR
    with db.read() as conn:
        oldest = conn.execute(sa.select(sa.func.min(consumer_hours.consumer_hours.c.bucket))).scalar_one()
        assert oldest >= since
        old = resolve(conn, app_id, query.Filters())
        before = query.parse(
            {"start": str(NOW - SPAN), "end": str(NOW), "interval": "hour"}, NOW, apdex_t=500
        ).range
        assert not consumer_hours.covers(conn, old, before)
    page = Page(100, 0, "requests", True)
    listed = lambda c, r, tr, page=page: consumers.list_consumers(c, app_id, r, tr, 500, page, False)  # noqa: E731
    for start, interval in ((since, "hour"), (since + 3 * HOUR + 17 * MINUTE, "minute")):
        fast, exact, used = _both(db, app_id, query.Filters(), (start, NOW, interval), listed)
        assert used and fast == exact
        assert sum(c["requests"] for c in fast[0]) > 0


def _first_seen_later(db: Database, app_id: int) -> None:
    """Half the consumers first seen hours after their first requests (a sync that came late, or clock
    skew): they can be new in a range that starts after their first active hour."""
    with db.write() as conn:
        for offset, cid in enumerate(
            conn.execute(sa.select(consumer_rows.c.id).where(consumer_rows.c.app_id == app_id)).scalars()
        ):
            if offset % 2:
                conn.execute(
                    consumer_rows.update()
                    .where(consumer_rows.c.id == cid)
                    .values(first_seen=NOW - SPAN + (offset % 7) * 3 * HOUR + 17 * MINUTE)
                )


@settings(max_examples=40, deadline=None, suppress_health_check=FUNCTION_DB)
@given(rng=ranges, wanted=filters, by_day=st.booleans())
def test_activity_matches_with_consumers_first_seen_after_their_first_requests(
    shop: tuple[Database, int], rng: Any, wanted: Any, by_day: bool
) -> None:
    db, app_id = shop
    _first_seen_later(db, app_id)  # the same each example
    _checked(db, app_id, wanted, rng, lambda c, r, tr: consumers.activity(c, r, tr, by_day))


def test_the_first_active_hours_are_the_earliest_hours(shop: tuple[Database, int]) -> None:
    """consumers.first_active_hour as ingestion keeps it is each consumer's earliest hour of any env, and
    stays so after an env is removed (its hours go with it)."""
    db, app_id = shop

    def stored_and_earliest() -> tuple[dict[int, int], dict[int, int]]:
        hours = consumer_hours.consumer_hours.c
        with db.read() as conn:
            stored = dict(
                conn.execute(
                    sa.select(consumer_rows.c.id, consumer_rows.c.first_active_hour).where(
                        consumer_rows.c.app_id == app_id, consumer_rows.c.first_active_hour.is_not(None)
                    )
                ).all()
            )
            earliest = dict(
                conn.execute(
                    sa.select(hours.consumer_id, sa.func.min(hours.bucket)).group_by(hours.consumer_id)
                ).all()
            )
        return stored, earliest

    stored, earliest = stored_and_earliest()
    assert stored == earliest and len(stored) > 20
    with db.write() as conn:
        app_admin.remove_env(conn, app_id, "dev")
    stored_after, earliest_after = stored_and_earliest()
    assert stored_after == earliest_after and stored_after != stored
    for start, interval in ((NOW - SPAN, "hour"), (NOW - 9 * HOUR, "hour"), (NOW - SPAN, "day")):
        for by_day in (False, True):
            fast, exact, used = _both(
                db,
                app_id,
                query.Filters(),
                (start, NOW, interval),
                lambda c, r, tr, by_day=by_day: consumers.activity(c, r, tr, by_day),
            )
            assert used and fast == exact
