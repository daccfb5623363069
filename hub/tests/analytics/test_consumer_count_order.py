"""Consumer lists sorted by requests or errors (analytics.count_order): every page, walked at every offset
in both directions, both ways of reading a page (in count order; from the runs of equal counts, for deep
offsets), from the per-consumer hours and from the metric rows, with and without a group filter, holds
exactly the consumers the order asks for: by the count, ties by identifier, consumers without a count last
descending and first ascending (by identifier), requests without a consumer in no one's count.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from unittest import mock

import orjson
import pytest
from tallyhub.analytics import consumers, count_order, query
from tallyhub.analytics.paging import Page
from tallyhub.analytics.selection import resolve
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.metrics import consumer_hours
from tallyhub.storage import apps as app_store
from tallyhub.storage import endpoint_settings
from tallyhub.storage.caps import Caps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import HOUR

NOW = time.time()
ACTIVE = 30  # c00..c29 send requests; c30..c39 are only named (no requests: a count of zero)
SYNCS = 3


def _ok(c: int) -> int:
    return 1 + c % 3  # few distinct counts: ties by the dozen


def _bad(c: int) -> int:
    return 1 + c % 2 if c % 4 == 0 else 0


def _entry(consumer: str | None, status: int, count: int) -> dict[str, Any]:
    return {
        "consumer": consumer,
        "method": "GET",
        "path": "/a",
        "status_code": status,
        "request_count": count,
        "request_size_sum": 0,
        "response_size_sum": 0,
        "response_times": {"20": count},
        "request_sizes": {},
        "response_sizes": {},
    }


@pytest.fixture
def shop(db: Database) -> tuple[Database, int]:
    """40 consumers (c00..c39, groups g0/g1 alternating), 30 of them with requests in each of 3 hours."""
    app = app_store.create_app(db, "Shop", ("prod",))
    writer = Writer(db, limits=Caps(consumers=100, endpoints=10, envs=2))
    for hour in range(SYNCS):
        entries = [_entry(None, 200, 50)]  # requests without a consumer: the most, in nobody's count
        for c in range(ACTIVE):
            entries.append(_entry(f"c{c:02d}", 200, _ok(c)))
            if _bad(c):
                entries.append(_entry(f"c{c:02d}", 500 if c % 8 else 404, _bad(c)))
        named = [{"identifier": f"c{c:02d}", "name": None, "group": f"g{c % 2}"} for c in range(40)]
        body = {
            "instance_uuid": str(uuid.uuid4()),
            "message_uuid": str(uuid.uuid4()),
            "timestamp": NOW - (SYNCS - hour) * HOUR + 60,
            "requests": entries,
            "validation_errors": [],
            "server_errors": [],
            "consumers": named,
            "resources": None,
        }
        writer.store(app.id, "prod", translate.sync(Sync.model_validate_json(orjson.dumps(body))))
    return db, app.id


def _expected(sort: str, desc: bool, group: str | None) -> list[str]:
    listed = [c for c in range(40) if group is None or f"g{c % 2}" == group]

    def count(c: int) -> int:
        if c >= ACTIVE:
            return 0
        return SYNCS * (_ok(c) + _bad(c) if sort == "requests" else _bad(c))

    order = sorted(listed, key=lambda c: (-count(c) if desc else count(c), f"c{c:02d}"))
    return [f"c{c:02d}" for c in order]


def _walk(db: Database, app_id: int, sort: str, desc: bool, group: str | None, limit: int) -> list[str]:
    """Every page of `limit` consumers, one after the other, as the identifiers listed."""
    walked: list[str] = []
    with db.read() as conn:
        resolved = resolve(conn, app_id, query.Filters(group=group))
        start = NOW - NOW % HOUR - SYNCS * HOUR
        tr = query.parse({"start": str(start), "end": str(start + 4 * HOUR)}, NOW, apdex_t=500).range
        offset = 0
        while True:
            page = Page(limit, offset, sort, desc)
            listed, total = consumers.list_consumers(conn, app_id, resolved, tr, 500, page, False)
            assert len(listed) == min(limit, max(0, total - offset)), (offset, total)
            walked += [c["identifier"] for c in listed]
            offset += limit
            if offset >= total:
                return walked


@pytest.mark.parametrize("group", [None, "g1"])
@pytest.mark.parametrize("from_hours", [True, False], ids=["per-consumer hours", "metric rows"])
@pytest.mark.parametrize("deep_offset", [10_000, 0, 7], ids=["in order", "from runs", "runs from 7"])
@pytest.mark.parametrize("sort", ["requests", "errors"])
def test_every_page_in_both_directions_holds_the_consumers_in_order(
    shop: tuple[Database, int], sort: str, deep_offset: int, from_hours: bool, group: str | None
) -> None:
    db, app_id = shop
    with (
        mock.patch.object(count_order, "DEEP_OFFSET", deep_offset),
        mock.patch.object(consumer_hours, "covers", wraps=consumer_hours.covers)
        if from_hours
        else mock.patch.object(consumer_hours, "covers", return_value=False),
    ):
        for desc in (True, False):
            wanted = _expected(sort, desc, group)
            for limit in (1, 4, 7, 50):
                assert _walk(db, app_id, sort, desc, group, limit) == wanted, (desc, limit)


def test_counts_and_idle_consumers_are_as_sent(shop: tuple[Database, int]) -> None:
    """The fixture's figures themselves (so that the orders above are checked against real counts)."""
    db, app_id = shop
    with db.read() as conn:
        resolved = resolve(conn, app_id, query.Filters())
        start = NOW - NOW % HOUR - SYNCS * HOUR
        tr = query.parse({"start": str(start), "end": str(start + 4 * HOUR)}, NOW, apdex_t=500).range
        assert consumer_hours.covers(conn, resolved, tr)
        listed, total = consumers.list_consumers(
            conn, app_id, resolved, tr, 500, Page(100, 0, "identifier", False), False
        )
    assert total == 40
    got = {c["identifier"]: c["requests"] for c in listed}
    assert got == {f"c{c:02d}": SYNCS * (_ok(c) + _bad(c)) if c < ACTIVE else 0 for c in range(40)}


@pytest.mark.parametrize("deep_offset", [10_000, 0], ids=["in order", "from runs"])
def test_expected_statuses_are_taken_off_the_per_consumer_hours(
    shop: tuple[Database, int], deep_offset: int
) -> None:
    """With 404 expected on GET /a, the lists are still read from the per-consumer hours (they fell back to
    summing every metric row), and only the 500s count as errors."""
    db, app_id = shop
    with db.write() as conn:
        endpoint_settings.update(conn, app_id, "GET", "/a", {"expected_statuses": [404]})

    def errors(c: int) -> int:
        return SYNCS * _bad(c) if c < ACTIVE and c % 8 else 0

    with db.read() as conn:
        resolved = resolve(conn, app_id, query.Filters())
        start = NOW - NOW % HOUR - SYNCS * HOUR
        tr = query.parse({"start": str(start), "end": str(start + 4 * HOUR)}, NOW, apdex_t=500).range
        assert consumer_hours.covers(conn, resolved, tr)
    with mock.patch.object(count_order, "DEEP_OFFSET", deep_offset):
        for desc in (True, False):
            wanted = sorted(range(40), key=lambda c: (-errors(c) if desc else errors(c), f"c{c:02d}"))
            walked = _walk(db, app_id, "errors", desc, None, 7)
            assert walked == [f"c{c:02d}" for c in wanted], desc
    with db.read() as conn:
        listed, _ = consumers.list_consumers(
            conn, app_id, resolved, tr, 500, Page(40, 0, "errors", True), False
        )
        groups, _ = consumers.list_groups(conn, app_id, resolved, tr, Page(5, 0, "errors", True))
    shown = {c["identifier"]: c["requests_5xx"] + c["requests_4xx"] for c in listed}
    assert shown == {f"c{c:02d}": errors(c) for c in range(40)}, "the page's statistics agree"
    assert {g["name"]: g["errors"] for g in groups} == {
        f"g{k}": sum(errors(c) for c in range(40) if c % 2 == k) for k in (0, 1)
    }
