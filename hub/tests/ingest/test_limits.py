"""Ingestion limits (issue 10): the time window, env and method names as the dashboard takes them, and the
request-log budget with bounded memory, against the real app on each engine."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from tallyhub.analytics import query
from tallyhub.app import create_app
from tallyhub.ingest.body import gunzip_pieces, split_lines
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.writer import Writer, _preloaded
from tallyhub.settings import load_settings
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import endpoints, envs, metrics, received_messages, request_logs

NOW = 1_800_000_000.0  # the hub's clock in these tests (2027-01-15 08:00 UTC, on an hour)
HOUR = 3600.0


class Hub:
    """The hub app in-process (httpx's ASGI transport) with a clock the test sets."""

    def __init__(self, db: Database, app_name: str = "Shop", **settings: Any) -> None:
        self.db = db
        self.now = NOW
        self.app = create_app(load_settings(settings), db, run_maintenance=False)
        self.app.state.ingest_writer = Writer(db, clock=lambda: self.now)
        self.client_id = apps.create_app(db, app_name, ("prod",)).client_id if app_name else ""

    def post(self, path: str, env: str = "prod", **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                return await client.post(f"/v2/{self.client_id}/{env}/{path}", **kwargs)

        return asyncio.run(send())

    def log(self, lines: list[dict[str, Any]]) -> httpx.Response:
        return self.post(f"log?uuid={uuid.uuid4()}", content=ndjson_gz(lines))

    def count(self, table: sa.Table) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.fixture
def hub(db: Database) -> Hub:
    return Hub(db)


def sync(at: float | None = NOW, method: str = "GET") -> dict[str, Any]:
    return {
        "instance_uuid": str(uuid.uuid4()),
        "message_uuid": str(uuid.uuid4()),
        "timestamp": at,
        "requests": [
            {
                "consumer": "alice",
                "method": method,
                "path": "/items",
                "status_code": 200,
                "request_count": 3,
                "response_times": {"10": 3},
            }
        ],
    }


def log_line(at: float = NOW, method: str = "GET", body: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "request": {
            "timestamp": at,
            "method": method,
            "path": "/items",
            "url": "http://api/items",
            "body": body,
        },
        "response": {"status_code": 200, "response_time": 0.01},
        **extra,
    }


def ndjson_gz(lines: list[dict[str, Any]]) -> bytes:
    return gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())


def detail_loc(response: httpx.Response) -> list[Any]:
    assert response.status_code == 422, response.text
    loc: list[Any] = response.json()["detail"][0]["loc"]
    return loc


# --- Timestamps ---


@pytest.mark.parametrize(
    "at",
    [NOW - 25 * HOUR - 60, NOW + 11 * 60, 99_999_999_999.0, 0.0],
    ids=["25h-and-a-minute-old", "11-minutes-ahead", "year-5138", "1970"],
)
def test_a_sync_dated_outside_the_window_is_422_naming_timestamp_and_stores_nothing(
    hub: Hub, at: float
) -> None:
    assert detail_loc(hub.post("sync", json=sync(at))) == ["body", "timestamp"]
    assert hub.count(metrics) == 0 and hub.count(received_messages) == 0


@pytest.mark.parametrize("at", [NOW - 25 * HOUR + 60, NOW + 9 * 60, None])
def test_a_sync_within_the_window_is_stored(hub: Hub, at: float | None) -> None:
    assert hub.post("sync", json=sync(at)).status_code == 202
    assert hub.count(metrics) > 0


@pytest.mark.parametrize(
    ("extra", "loc"),
    [
        ({}, ["request", "timestamp"]),
        ({"logs": [{"timestamp": NOW, "message": "ok"}, {"timestamp": 5e10, "message": "x"}]}, ["logs", 1]),
        ({"spans": [{"span_id": "a", "start_time": int(NOW * 1e9), "end_time": 2**62}]}, ["spans", 0]),
    ],
    ids=["request", "log-record", "span-end"],
)
def test_a_log_line_with_a_time_outside_the_window_refuses_the_file(
    hub: Hub, extra: dict[str, Any], loc: list[Any]
) -> None:
    late = NOW + HOUR if not extra else NOW
    response = hub.log([log_line(), log_line(late, **extra)])
    assert detail_loc(response)[: 2 + len(loc)] == ["body", "line 2", *loc]
    assert "window" in response.json()["detail"][0]["msg"]
    assert hub.count(request_logs) == 0 and hub.count(received_messages) == 0


# --- Names: what the dashboard would refuse, ingestion refuses ---

LOOK_ALIKE_ENVS = ["ｐｒｏｄ", "prød", "²", "prod\u200b", "x" * 33, "a.b"]


@pytest.mark.parametrize("env", LOOK_ALIKE_ENVS)
def test_non_ascii_or_malformed_env_names_are_422_and_create_nothing(hub: Hub, env: str) -> None:
    startup = {"instance_uuid": str(uuid.uuid4()), "message_uuid": str(uuid.uuid4())}
    for path, body in (("sync", sync()), ("startup", startup)):
        assert detail_loc(hub.post(path, env=env, json=body)) == ["path", "env"]
    log = hub.post(f"log?uuid={uuid.uuid4()}", env=env, content=ndjson_gz([log_line()]))
    assert detail_loc(log) == ["path", "env"]
    assert hub.count(envs) == 1  # only "prod"
    with pytest.raises(query.InvalidParameter):  # the dashboard's filter refuses it as well
        query.parse_filters({"env": env})


BAD_METHODS = ["GET'&|~^", "GET|x", "G.ET", "1GET", "GET*", "x" * 17]


@pytest.mark.parametrize("method", BAD_METHODS)
def test_methods_the_dashboard_refuses_are_422_wherever_they_come(hub: Hub, method: str) -> None:
    with pytest.raises(query.InvalidParameter):
        query.parse_filters({"method": method})
    assert detail_loc(hub.post("sync", json=sync(method=method))) == ["body", "requests", 0, "method"]
    startup = {
        "instance_uuid": str(uuid.uuid4()),
        "message_uuid": str(uuid.uuid4()),
        "paths": [{"method": "GET", "path": "/a"}, {"method": method, "path": "/items"}],
    }
    assert detail_loc(hub.post("startup", json=startup)) == ["body", "paths", 1, "method"]
    assert detail_loc(hub.log([log_line(method=method)]))[:4] == ["body", "line 1", "request", "method"]
    assert hub.count(endpoints) == 0 and hub.count(received_messages) == 0


@pytest.mark.parametrize("method", ["GET", "get", "PROPFIND", "M-SEARCH", "BASELINE-CONTROL"])
def test_methods_the_dashboard_takes_are_stored_and_their_page_filter_parses(hub: Hub, method: str) -> None:
    assert hub.post("sync", json=sync(method=method)).status_code == 202
    with hub.db.read() as conn:
        stored = conn.execute(sa.select(endpoints.c.method)).scalar_one()
    assert stored == method.upper()
    assert query.parse_filters({"method": stored}).method == stored


# --- Request-log budget ---

BODY = "A" * 10_000  # a line of a little over 10 KB


def test_past_the_budget_log_files_get_402_with_retry_after_until_the_window_ends(db: Database) -> None:
    hub = Hub(db, log_budget_bytes=50_000, log_budget_seconds=3600)
    hub.now = NOW + 600  # ten minutes into the window
    four = [log_line(hub.now, body=BODY) for _ in range(4)]
    assert hub.log(four).status_code == 202  # ~40 KB of 50 KB
    refused = hub.log([log_line(hub.now, body=BODY) for _ in range(2)])
    assert refused.status_code == 402, refused.text
    assert refused.headers["Retry-After"] == "3000"
    assert "budget" in refused.json()["detail"]
    assert hub.count(request_logs) == 4  # nothing of the refused file
    assert hub.post("sync", json=sync(hub.now)).status_code == 202  # metrics carry on

    assert hub.log([log_line(hub.now)]).status_code == 202  # a small file still fits
    hub.now = NOW + HOUR + 1  # the next window
    assert hub.log([log_line(hub.now, body=BODY) for _ in range(4)]).status_code == 202
    assert hub.count(request_logs) == 9


def test_the_budget_is_shared_by_hub_processes_and_per_app(db: Database) -> None:
    first = Hub(db, log_budget_bytes=30_000)
    second = Hub(db, app_name="", log_budget_bytes=30_000)
    second.client_id = first.client_id  # two hub processes serving one app
    assert first.log([log_line(body=BODY) for _ in range(2)]).status_code == 202
    assert second.log([log_line(body=BODY) for _ in range(2)]).status_code == 402
    other = Hub(db, app_name="Other", log_budget_bytes=30_000)  # another app has its own budget
    assert other.log([log_line(body=BODY) for _ in range(2)]).status_code == 202


def test_a_line_longer_than_any_client_writes_refuses_the_file(hub: Hub) -> None:
    response = hub.log([log_line(), log_line(body="C" * 8_000_000)])
    assert detail_loc(response) == ["body", "line 2"]
    assert response.json()["detail"][0]["msg"] == "line 2 is longer than 8000000 bytes"
    assert hub.count(request_logs) == 0 and hub.count(received_messages) == 0


def test_a_log_bomb_is_parsed_in_bounded_memory(db: Database) -> None:
    hub = Hub(db)
    lines = [log_line(body="B" * 60_000) for _ in range(600)]  # ~36 MB inflated
    body = ndjson_gz(lines)
    inflated = len(gzip.decompress(body))
    assert inflated > 35_000_000 and len(body) < inflated / 50
    tracemalloc.start()
    try:
        response = hub.post(f"log?uuid={uuid.uuid4()}", content=body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 202, response.text
    assert hub.count(request_logs) == 600
    # A part (at most 4 MB of lines) with its parsed models and rows, never the inflated file.
    assert peak < inflated / 2, f"peak {peak / 1e6:.1f} MB for a {inflated / 1e6:.1f} MB file"


@given(text=st.binary(max_size=300), cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=8))
def test_lines_split_as_the_pieces_come_are_the_lines_of_the_whole(text: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    expected = text.split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # a final newline ends the last line; it starts none
    assert [line for _, line in split_lines(pieces, 1000)] == expected
    assert [n for n, _ in split_lines(pieces, 1000)] == list(range(1, len(expected) + 1))


@given(data=st.binary(max_size=5000), piece=st.integers(min_value=1, max_value=700))
def test_gunzip_in_pieces_gives_the_file_back(data: bytes, piece: int) -> None:
    pieces = list(gunzip_pieces(gzip.compress(data) + gzip.compress(data[:10]), 10_000, piece))
    assert b"".join(pieces) == data + data[:10]
    assert all(0 < len(p) <= piece for p in pieces)


# --- The write lock ---


def test_a_log_file_is_parsed_before_its_transaction_takes_the_write_lock(
    hub: Hub, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other payloads wait on the one write lock (SQLite) only for the writing, not for the parsing."""
    events: list[str] = []
    write, part = db.write, translate.request_log

    @contextlib.contextmanager
    def recorded_write() -> Iterator[sa.Connection]:
        events.append("lock")
        with write() as conn:
            yield conn

    def recorded_part(*args: Any) -> Any:
        events.append("part")
        return part(*args)

    monkeypatch.setattr(db, "write", recorded_write)
    monkeypatch.setattr(translate, "request_log", recorded_part)
    assert hub.log([log_line() for _ in range(700)]).status_code == 202  # two parts of at most 500 lines
    assert events == ["part", "part", "lock"]
    assert hub.count(request_logs) == 700


def _parts(made: list[int], sizes: list[int], fail_at: int | None = None) -> Iterator[tuple[Any, int]]:
    made.append(1)
    for number, size in enumerate(sizes):
        if number == fail_at:
            raise ValueError("bad line")
        yield f"part {number}", size


def test_parts_parsed_whole_are_kept_for_a_retry() -> None:
    made: list[int] = []
    source = _preloaded(lambda: _parts(made, [10, 10]), limit=100)
    assert list(source()) == list(source()) == [("part 0", 10), ("part 1", 10)]
    assert len(made) == 1


def test_a_payload_past_the_preload_goes_on_parsing_then_a_retry_starts_again() -> None:
    made: list[int] = []
    source = _preloaded(lambda: _parts(made, [60, 60, 60]), limit=100)
    assert len(made) == 1
    whole = [("part 0", 60), ("part 1", 60), ("part 2", 60)]
    assert list(source()) == whole  # the first attempt: the two parsed, then the rest
    assert list(source()) == whole and len(made) == 2  # a retry parses from the start


def test_a_payload_that_fails_to_parse_is_parsed_again_in_the_transaction() -> None:
    made: list[int] = []
    source = _preloaded(lambda: _parts(made, [10, 10], fail_at=1), limit=100)
    with pytest.raises(ValueError, match="bad line"):
        list(source())
    assert len(made) == 2
