"""The /v2 handlers against the real app and a real database on each engine (PROTOCOL.md §1A, §2A, §6)."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tallyhub.app import create_app
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.settings import load_settings
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import (
    LEVEL_CONSUMER,
    LEVEL_CONSUMER_TOTAL,
    LEVEL_ENDPOINT,
    LEVEL_TOTAL,
    consumers,
    endpoints,
    error_counts,
    error_groups,
    instances,
    metrics,
    received_messages,
    request_logs,
)
from tallyhub.storage.tables import (
    apps as app_table,
)

DATA = Path(__file__).parent / "data"
# The hub's clock in these tests: a few minutes after the captured payloads were sent, so that their
# times fall within the ingestion window (25 h before the clock to 10 min after it).
CAPTURED_AT = 1795715400.0
# Fixed, not uuid4(): parametrized ids must be the same in every pytest process that collects them.
UNKNOWN_CLIENT_ID = "9f1c2b7e-4d3a-4b8e-a6f0-2c5d8e1f3a7b"


def payload(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    data["message_uuid"] = str(uuid.uuid4())
    data.update(changes)
    return data


def log_file(name: str, fresh_uuids: bool = True) -> bytes:
    lines = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]
    if fresh_uuids:
        for line in lines:
            line["uuid"] = str(uuid.uuid4())
    return gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())


class Hub:
    """The hub app driven in-process through httpx's ASGI transport (real HTTP semantics, no socket)."""

    def __init__(self, db: Database, **settings: Any) -> None:
        self.db = db
        self.app = create_app(load_settings(settings), db, run_maintenance=False)
        self.app.state.ingest_writer = Writer(db, clock=lambda: CAPTURED_AT)
        self.client_id = apps.create_app(db, "Shop", ("prod",)).client_id

    def post(
        self, path: str, client_id: str | None = None, env: str = "prod", **kwargs: Any
    ) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                return await client.post(f"/v2/{client_id or self.client_id}/{env}/{path}", **kwargs)

        return asyncio.run(send())

    def rows(self, table: sa.Table, *where: Any) -> list[Any]:
        with self.db.read() as conn:
            return list(conn.execute(sa.select(table).where(*where).order_by(*table.primary_key.columns)))


@pytest.fixture
def asgi(db: Database) -> Hub:
    return Hub(db)


def assert_stored(response: httpx.Response) -> None:
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "ok"}


def test_python_flask_startup_sync_and_log_are_stored(asgi: Hub) -> None:
    assert_stored(asgi.post("startup", json=payload("python_flask_startup.json")))
    assert_stored(asgi.post("sync", json=payload("python_flask_sync.json")))
    assert_stored(asgi.post(f"log?uuid={uuid.uuid4()}", content=log_file("python_log.ndjson")))

    eps = {(e.method, e.path_key): e for e in asgi.rows(endpoints)}
    assert set(eps) == {("GET", "/items/{}"), ("PUT", "/items/{}"), ("POST", "/echo"), ("GET", "/boom")}
    assert all(e.in_startup for e in eps.values())
    assert eps[("GET", "/items/{}")].path == "/items/<int:item_id>"

    (instance,) = asgi.rows(instances)
    assert instance.client == "python:flask"
    assert instance.app_version == "1.2.3"
    assert instance.versions["flask"] == "3.1.3"
    assert (instance.cpu_percent, instance.memory_rss) == (0.2, 44118016)
    assert instance.last_startup_at and instance.last_sync_at

    (alice,) = asgi.rows(consumers)
    assert (alice.identifier, alice.name, alice.group_name) == ("user-42", "Alice", "Admins")

    rows = asgi.rows(metrics)
    assert {r.granularity for r in rows} == {60} and {r.bucket for r in rows} == {1795715100}
    total = {r.status_code: r for r in rows if r.level == LEVEL_TOTAL}
    assert {s: r.request_count for s, r in total.items()} == {200: 5, 404: 1, 500: 1}
    assert json.loads(total[200].response_times) == {"0": 3, "280": 2}
    assert total[200].request_size_sum == 3500 and total[200].response_size_sum == 3586
    level1 = {(r.endpoint_id, r.status_code): r.request_count for r in rows if r.level == LEVEL_ENDPOINT}
    item = eps[("GET", "/items/{}")].id
    assert level1[(item, 200)] == 2 and level1[(item, 404)] == 1
    level2 = {(r.endpoint_id, r.consumer_id, r.status_code) for r in rows if r.level == LEVEL_CONSUMER}
    assert (item, alice.id, 200) in level2 and (item, 0, 404) in level2
    assert sum(r.request_count for r in rows if r.level == LEVEL_CONSUMER) == 7
    level3 = {
        (r.consumer_id, r.status_code): r.request_count for r in rows if r.level == LEVEL_CONSUMER_TOTAL
    }
    assert level3[(alice.id, 200)] == sum(
        r.request_count
        for r in rows
        if r.level == LEVEL_CONSUMER and (r.consumer_id, r.status_code) == (alice.id, 200)
    )
    assert {r.endpoint_id for r in rows if r.level == LEVEL_CONSUMER_TOTAL} == {0}
    assert sum(level3.values()) == 7

    (group,) = asgi.rows(error_groups)
    assert (group.kind, group.type, group.msg, group.endpoint_id) == (
        "server",
        "builtins.ValueError",
        "kaboom",
        eps[("GET", "/boom")].id,
    )
    assert len(group.fingerprint) == 64 and group.traceback.startswith("Traceback")
    (count,) = asgi.rows(error_counts)
    assert (count.group_id, count.bucket, count.consumer_id, count.count) == (group.id, 1795715100, 0, 1)

    logs = {r.status_code: r for r in asgi.rows(request_logs)}
    ok, missing = logs[200], logs[404]
    assert (ok.method, ok.path, ok.endpoint_id, ok.consumer_id) == (
        "GET",
        "/items/<int:item_id>",
        item,
        alice.id,
    )
    assert ok.url.endswith("?api_key=abc") and ok.response_time == 0.012 and ok.response_size == 43
    assert ok.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert ok.details["request_headers"] == [
        ["User-Agent", "python-requests/2.32.3"],
        ["Authorization", "******"],
    ]
    # The body "eyJpZCI6IDcsICJuYW1lIjogIkl0ZW0gNyJ9" is UTF-8 text: kept in its text column alone.
    assert ok.details["response_body"] is None and ok.details["text_bodies"] == ["response_body"]
    assert ok.response_body_text == '{"id": 7, "name": "Item 7"}'
    assert ok.details["logs"][0] == {
        "timestamp": 1795715148.26,
        "logger": "app",
        "level": "WARNING",
        "message": "slow",
        "file": "/app/app.py",
        "line": 20,
    }
    assert ok.details["spans"][0]["start_time"] == 1795715148250000000
    assert ok.details["exception"] is None
    assert (missing.path, missing.endpoint_id, missing.consumer_id) == (None, None, None)
    assert missing.details["exception"] == {
        "type": "builtins.ValueError",
        "message": "kaboom",
        "traceback": "Traceback ...",
        "sentry_event_id": "abc123",
    }


def test_node_flavour_is_accepted_and_stored_in_python_spelling(asgi: Hub) -> None:
    assert_stored(asgi.post("startup", json=payload("node_express_startup.json")))
    assert_stored(asgi.post("sync", json=payload("node_express_sync.json")))
    assert_stored(asgi.post(f"log?uuid={uuid.uuid4()}", content=log_file("node_log.ndjson")))

    eps = {(e.method, e.path_key): e for e in asgi.rows(endpoints)}
    assert set(eps) == {("GET", "/items/{}"), ("POST", "/items")}  # startup sent lower case
    named = {c.identifier: (c.name, c.group_name) for c in asgi.rows(consumers)}
    assert named == {"acme": (None, None), "globex": (None, "Partners")}
    (validation,) = asgi.rows(error_groups, error_groups.c.kind == "validation")
    assert validation.loc == ["body", "name"] and validation.traceback is None
    (server,) = asgi.rows(error_groups, error_groups.c.kind == "server")
    assert server.type == "TypeError"
    (instance,) = asgi.rows(instances)
    assert instance.client == "js:express" and instance.cpu_percent is None  # resources null

    (row,) = asgi.rows(request_logs)
    assert (row.method, row.status_code, row.response_time) == ("GET", 500, 0.0213)
    assert row.endpoint_id == eps[("GET", "/items/{}")].id
    assert row.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert row.details["exception"] == {
        "type": "TypeError",
        "message": "boom",
        "traceback": "TypeError: boom\n    at x.js:1:1",
        "sentry_event_id": "evt-1",
    }
    assert row.details["spans"] == [
        {
            "span_id": "1111111111111111",
            "parent_span_id": None,
            "name": "root",
            "kind": "INTERNAL",
            "start_time": 1795715149100000000,
            "end_time": 1795715149121300000,
            "status": None,
            "attributes": None,
        }
    ]
    assert row.details["logs"] == [
        {"timestamp": 1795715149.11, "logger": "console", "level": "warn", "message": "careful"}
    ]


def test_starlette_spellings_meet_in_one_endpoint(asgi: Hub) -> None:
    startup = payload(
        "python_flask_startup.json",
        paths=[{"method": "get", "path": "/items/{item_id}", "summary": "Get one", "description": "By id"}],
        client="python:starlette",
        openapi=json.dumps({"openapi": "3.1.0", "paths": {}}),
    )
    assert_stored(asgi.post("startup", json=startup))
    sync = payload("python_flask_sync.json")
    sync["requests"][0]["path"] = "/items/{item_id:int}"
    sync["requests"] = sync["requests"][:1]
    sync["server_errors"] = []
    assert_stored(asgi.post("sync", json=sync))
    (endpoint,) = asgi.rows(endpoints)
    assert (endpoint.method, endpoint.path, endpoint.in_startup) == ("GET", "/items/{item_id}", True)
    assert (endpoint.summary, endpoint.description) == ("Get one", "By id")
    assert {r.endpoint_id for r in asgi.rows(metrics) if r.level in (LEVEL_ENDPOINT, LEVEL_CONSUMER)} == {
        endpoint.id
    }


def test_old_clients_without_later_keys_are_accepted(asgi: Hub) -> None:
    sync = payload("python_flask_sync.json")
    for key in ("timestamp", "resources", "consumers", "validation_errors", "server_errors"):
        del sync[key]
    assert_stored(asgi.post("sync", json=sync))
    startup = payload("python_flask_startup.json")
    del startup["paths"]
    assert_stored(asgi.post("startup", json=startup))
    (row,) = {r.bucket for r in asgi.rows(metrics)}
    with asgi.db.read() as conn:
        received = conn.execute(sa.select(sa.func.max(received_messages.c.received_at))).scalar_one()
    assert row == int(received // 60) * 60  # no timestamp: the minute it was received


def test_a_startup_with_versions_json_cannot_store_is_stored_with_them_as_text(asgi: Hub) -> None:
    # Found by the fuzz test: PostgreSQL's JSON refuses NaN and infinities, and the insert failed (500).
    startup = payload("python_flask_startup.json")
    startup["versions"] = {"flask": "3.1.3", "": float("inf"), "nested": {"x": [float("nan"), 1.5]}}
    body = json.dumps(startup)  # Python writes them as JavaScript does: Infinity, NaN
    assert_stored(asgi.post("startup", content=body, headers={"Content-Type": "application/json"}))
    (instance,) = asgi.rows(instances)
    assert instance.versions == {"flask": "3.1.3", "": "Infinity", "nested": {"x": ["NaN", 1.5]}}


def test_sync_before_startup(asgi: Hub) -> None:
    assert_stored(asgi.post("sync", json=payload("python_flask_sync.json")))
    (instance,) = asgi.rows(instances)
    assert instance.client is None and instance.last_sync_at is not None
    assert {e.in_startup for e in asgi.rows(endpoints)} == {False}
    assert_stored(asgi.post("startup", json=payload("python_flask_startup.json")))
    (instance,) = asgi.rows(instances)
    assert instance.client == "python:flask" and instance.memory_rss == 44118016
    assert len(asgi.rows(endpoints)) == 4 and {e.in_startup for e in asgi.rows(endpoints)} == {True}


@pytest.mark.parametrize(
    "client_id",
    ["{CLIENT}", "{CLIENT_UPPER}", "{CLIENT_HEX}", "{{{CLIENT}}}", "urn:uuid:{CLIENT}"],
)
def test_non_canonical_client_ids_are_accepted(asgi: Hub, client_id: str) -> None:
    spelled = client_id.format(
        CLIENT=asgi.client_id, CLIENT_UPPER=asgi.client_id.upper(), CLIENT_HEX=asgi.client_id.replace("-", "")
    )
    assert_stored(asgi.post("sync", client_id=spelled, json=payload("python_flask_sync.json")))


@pytest.mark.parametrize("path", ["startup", "sync", "log?uuid=5b0e3c1a-2d4f-4e6a-8b9c-0d1e2f3a4b5c"])
@pytest.mark.parametrize("client_id", [UNKNOWN_CLIENT_ID, "not-a-uuid"])
def test_unknown_client_id_is_404_with_json(asgi: Hub, path: str, client_id: str) -> None:
    response = asgi.post(path, client_id=client_id, json=payload("python_flask_sync.json"))
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown client ID"}


@pytest.mark.parametrize("env", ["with space", "x" * 33, "a.b"])
def test_invalid_env_is_422_with_json(asgi: Hub, env: str) -> None:
    response = asgi.post("sync", env=env, json=payload("python_flask_sync.json"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "env"]


def test_env_is_created_on_first_sight_including_underscore(asgi: Hub) -> None:
    for env in ("staging_2", "Dev-1"):
        assert_stored(asgi.post("sync", env=env, json=payload("python_flask_sync.json")))
    assert set(apps.list_apps(asgi.db.engine.connect())[0].envs) == {"prod", "staging_2", "Dev-1"}


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda p: p["requests"][1].update(status_code="abc"), ["body", "requests", 1, "status_code"]),
        (lambda p: p["requests"][0].update(request_count=-1), ["body", "requests", 0, "request_count"]),
        (lambda p: p["requests"][0].pop("method"), ["body", "requests", 0, "method"]),
        (lambda p: p.update(message_uuid="nope"), ["body", "message_uuid"]),
        (lambda p: p.update(timestamp="yesterday"), ["body", "timestamp"]),
        (
            lambda p: p["requests"][0].update(response_times={"x": 1}),
            ["body", "requests", 0, "response_times"],
        ),
    ],
)
def test_invalid_sync_is_422_naming_the_field_and_stores_nothing(
    asgi: Hub, mutate: Any, loc: list[Any]
) -> None:
    bad = payload("python_flask_sync.json")
    mutate(bad)
    response = asgi.post("sync", json=bad)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][: len(loc)] == loc
    assert asgi.rows(metrics) == [] and asgi.rows(received_messages) == []


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b'"text"', b"\xff\xfe"])
def test_non_object_bodies_are_422_with_json(asgi: Hub, body: bytes) -> None:
    for path in ("startup", "sync"):
        response = asgi.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        assert response.json()["detail"]


def test_nul_characters_are_stored_as_replacement_characters(asgi: Hub) -> None:
    sync = payload("python_flask_sync.json")
    sync["server_errors"][0]["msg"] = "bad\u0000byte"
    assert_stored(asgi.post("sync", json=sync))
    assert asgi.rows(error_groups)[0].msg == "bad\ufffdbyte"


def test_body_over_the_limit_is_413(db: Database) -> None:
    asgi = Hub(db, max_body_bytes=1000)
    response = asgi.post("sync", json=payload("python_flask_sync.json"))
    assert response.status_code == 413
    assert "larger than 1000 bytes" in response.json()["detail"]
    assert asgi.rows(received_messages) == []


def test_log_needs_a_uuid(asgi: Hub) -> None:
    for query in ("", "?uuid=", "?uuid=123"):
        response = asgi.post(f"log{query}", content=log_file("python_log.ndjson"))
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "uuid"]


@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",
        log_file("python_log.ndjson")[:-6],  # truncated: its lines are read (and dropped) first
        b"",
    ],
)
def test_corrupt_gzip_is_422_with_json(asgi: Hub, body: bytes) -> None:
    response = asgi.post(f"log?uuid={uuid.uuid4()}", content=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "gzip"


def test_one_bad_line_rejects_the_whole_log_file(asgi: Hub) -> None:
    good = gzip.decompress(log_file("python_log.ndjson"))
    body = gzip.compress(good + b'{"uuid": "not-a-uuid", "request": {}}\n')
    response = asgi.post(f"log?uuid={uuid.uuid4()}", content=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", "line 3"]
    assert asgi.rows(request_logs) == [] and asgi.rows(received_messages) == []


def test_gzip_bomb_is_413(db: Database) -> None:
    asgi = Hub(db, max_log_bytes=100_000)
    bomb = gzip.compress(b"\n" * 50_000_000)
    assert len(bomb) < 100_000
    response = asgi.post(f"log?uuid={uuid.uuid4()}", content=bomb)
    assert response.status_code == 413
    assert "decompressed request log larger than 100000 bytes" in response.json()["detail"]


def test_multi_member_gzip_and_blank_lines(asgi: Hub) -> None:
    first, second = (gzip.decompress(log_file("python_log.ndjson")).split(b"\n")[i] for i in (0, 1))
    body = gzip.compress(first + b"\n\n") + gzip.compress(second + b"\n")
    assert_stored(asgi.post(f"log?uuid={uuid.uuid4()}", content=body))
    assert len(asgi.rows(request_logs)) == 2


def test_repeats_are_acknowledged_and_not_counted_again(asgi: Hub) -> None:
    startup, sync = payload("python_flask_startup.json"), payload("python_flask_sync.json")
    log_uuid, log_body = str(uuid.uuid4()), log_file("python_log.ndjson")
    for _ in range(3):
        for path, kwargs in (
            ("startup", {"json": startup}),
            ("sync", {"json": sync}),
            (f"log?uuid={log_uuid}", {"content": log_body}),
        ):
            assert asgi.post(path, **kwargs).status_code == 202
    assert asgi.post("sync", json=sync).json() == {"status": "duplicate"}
    assert sum(r.request_count for r in asgi.rows(metrics) if r.level == LEVEL_TOTAL) == 7
    assert sum(c.count for c in asgi.rows(error_counts)) == 1
    assert len(asgi.rows(request_logs)) == 2
    assert len(asgi.rows(received_messages)) == 3


def test_request_log_lines_are_deduplicated_across_files(asgi: Hub) -> None:
    body = log_file("python_log.ndjson")
    assert_stored(asgi.post(f"log?uuid={uuid.uuid4()}", content=body))
    assert_stored(asgi.post(f"log?uuid={uuid.uuid4()}", content=body))  # another file, same lines
    assert len(asgi.rows(request_logs)) == 2


def test_concurrent_duplicates_are_stored_once(db: Database) -> None:
    """Eight writers (as if eight hub processes, no shared cache) store the same sync at once."""
    app = apps.create_app(db, "Shop", ("prod",))
    sync = Sync.model_validate(payload("python_flask_sync.json"))
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        writer = Writer(db)
        barrier.wait()
        try:
            results.append(writer.store(app.id, "prod", translate.sync(sync)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [False] * 7 + [True]
    with db.read() as conn:
        total = conn.execute(
            sa.select(sa.func.sum(metrics.c.request_count)).where(metrics.c.level == LEVEL_TOTAL)
        ).scalar_one()
        assert total == 7
        assert conn.execute(sa.select(sa.func.count()).select_from(consumers)).scalar_one() == 1


def test_concurrent_new_endpoints_and_consumers_from_many_writers(db: Database) -> None:
    """Distinct syncs naming the same new endpoints and consumers at once: no error, one row each."""
    app = apps.create_app(db, "Shop", ("prod",))
    syncs = []
    for _ in range(6):
        data = payload("python_flask_sync.json")
        for i, entry in enumerate([copy.deepcopy(e) for e in data["requests"] * 5]):
            entry["path"] = f"/new/{i}"
            entry["consumer"] = f"c{i % 7}"
            data["requests"].append(entry)
        syncs.append(Sync.model_validate(data))
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(syncs))

    def send(sync: Sync) -> None:
        writer = Writer(db)
        barrier.wait()
        try:
            assert writer.store(app.id, "prod", translate.sync(sync))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(s,)) for s in syncs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(endpoints)).scalar_one() == 3 + 20
        assert conn.execute(sa.select(sa.func.count()).select_from(consumers)).scalar_one() == 8
        total = conn.execute(
            sa.select(sa.func.sum(metrics.c.request_count)).where(metrics.c.level == LEVEL_TOTAL)
        ).scalar_one()
    assert total == 6 * 7 * 6


def test_a_payload_failing_half_way_leaves_nothing(asgi: Hub) -> None:
    """error_counts is written last: without that table the sync fails after its metric rows."""
    with asgi.db.write() as conn:
        error_counts.drop(conn)
    sync = payload("python_flask_sync.json")
    response = asgi.post("sync", json=sync)
    assert response.status_code == 500  # a fault of the hub, not of the payload: the client retries
    for table in (metrics, received_messages, consumers, endpoints, instances, error_groups):
        assert asgi.rows(table) == [], table.name
    with asgi.db.write() as conn:
        error_counts.create(conn)
    assert_stored(asgi.post("sync", json=sync))  # the retry is stored, not taken for a duplicate
    assert sum(r.request_count for r in asgi.rows(metrics) if r.level == LEVEL_TOTAL) == 7


def test_consumer_names_from_clients_never_override_a_person(asgi: Hub) -> None:
    def send(*entries: dict[str, Any]) -> None:
        assert_stored(asgi.post("sync", json=payload("python_flask_sync.json", consumers=list(entries))))

    def names() -> dict[str, tuple[str | None, str | None]]:
        return {c.identifier: (c.name, c.group_name) for c in asgi.rows(consumers)}

    send({"identifier": "a", "name": "Alice", "group": "Admins"}, {"identifier": "b", "name": "Bob"})
    assert names()["a"] == ("Alice", "Admins") and names()["b"] == ("Bob", None)
    send({"identifier": "a", "name": None, "group": None}, {"identifier": "b", "group": "Staff"})
    assert names()["a"] == ("Alice", "Admins") and names()["b"] == ("Bob", "Staff")  # null clears nothing
    send({"identifier": "a", "name": "Alice Liddell", "group": None})
    assert names()["a"] == ("Alice Liddell", "Admins")  # a new client value replaces a client value
    with asgi.db.write() as conn:  # what PATCH /consumers does
        conn.execute(
            consumers.update()
            .where(consumers.c.identifier == "a")
            .values(name="Set by a person", name_set_by_user=True, group_name=None, group_set_by_user=True)
        )
    send({"identifier": "a", "name": "Client name", "group": "Client group"})
    assert names()["a"] == ("Set by a person", None)
    send({"identifier": "b", "name": "x" * 100})
    assert names()["b"] == ("x" * 64, "Staff")  # cut to the column, like the clients cut


def test_consumer_last_seen_moves_forward_with_sync_timestamps(asgi: Hub) -> None:
    base = 1795715149.0
    assert_stored(asgi.post("sync", json=payload("python_flask_sync.json", timestamp=base)))
    (alice,) = asgi.rows(consumers)
    assert alice.first_seen == alice.last_seen == base
    assert_stored(asgi.post("sync", json=payload("python_flask_sync.json", timestamp=base + 600)))
    assert_stored(asgi.post("sync", json=payload("python_flask_sync.json", timestamp=base - 600)))
    (alice,) = asgi.rows(consumers)
    assert (alice.first_seen, alice.last_seen) == (base, base + 600)


def test_error_groups_are_shared_and_counted_per_minute(asgi: Hub) -> None:
    base = 1795715149.0
    for offset in (0, 5, 61):
        assert_stored(asgi.post("sync", json=payload("python_flask_sync.json", timestamp=base + offset)))
    (group,) = asgi.rows(error_groups)
    assert (group.first_seen, group.last_seen) == (base, base + 61)  # +5 is within the 60 s resolution
    counts = asgi.rows(error_counts)
    assert sorted((c.bucket, c.count) for c in counts) == [(1795715100, 1), (1795715100, 1), (1795715160, 1)]


def test_a_dead_pooled_connection_costs_no_payload(db: Database) -> None:
    """Connections are not pinged before use: one that died (server restart) is replaced on the spot."""
    app = apps.create_app(db, "Shop", ("prod",))
    writer = Writer(db)
    assert writer.store(
        app.id, "prod", translate.sync(Sync.model_validate(payload("python_flask_sync.json")))
    )
    if db.is_sqlite:
        with db.engine.connect() as conn:  # closed under the pool's feet
            conn.connection.dbapi_connection.close()  # type: ignore[union-attr]
    else:
        admin = sa.create_engine(db.url, poolclass=sa.pool.NullPool)
        with admin.connect() as conn:  # as a server restart would: every pooled connection dies
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        admin.dispose()
    assert writer.store(
        app.id, "prod", translate.sync(Sync.model_validate(payload("python_flask_sync.json")))
    )
    with db.read() as conn:
        total = conn.execute(
            sa.select(sa.func.sum(metrics.c.request_count)).where(metrics.c.level == LEVEL_TOTAL)
        ).scalar_one()
    assert total == 14


def test_an_app_deleted_while_cached_gets_404_not_500(asgi: Hub) -> None:
    assert_stored(asgi.post("sync", json=payload("python_flask_sync.json")))  # the client ID is cached now
    with asgi.db.write() as conn:
        conn.execute(sa.delete(app_table))
    response = asgi.post("sync", json=payload("python_flask_sync.json"))
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown client ID"}
