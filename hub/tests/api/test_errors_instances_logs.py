"""GET errors, instances and request-logs: filters, counts over the range, paging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import NO_ID, error_counts, error_groups, instances, request_logs

T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_errors_count_within_the_range_and_filter(api: Any, db: Any) -> None:
    boom = api.writer.endpoint("prod", "GET", "/boom/<int:n>")
    form = api.writer.endpoint("dev", "POST", "/form")
    alice, bob = api.writer.consumer("alice"), api.writer.consumer("bob")
    with db.write() as conn:
        prod, dev = (
            app_store.env_id_for(conn, api.app_id, "prod"),
            app_store.env_id_for(conn, api.app_id, "dev"),
        )
        common = {"first_seen": T0, "last_seen": T0 + 600, "traceback": None, "loc": None}
        server = conn.execute(
            error_groups.insert()
            .values(
                env_id=prod,
                kind="server",
                endpoint_id=boom,
                fingerprint="a" * 64,
                type="builtins.ValueError",
                msg="kaboom",
                **{**common, "traceback": "Traceback ..."},
            )
            .returning(error_groups.c.id)
        ).scalar_one()
        validation = conn.execute(
            error_groups.insert()
            .values(
                env_id=dev,
                kind="validation",
                endpoint_id=form,
                fingerprint="b" * 64,
                type="int_parsing",
                msg="not an int",
                **{**common, "loc": ["body", "age"]},
            )
            .returning(error_groups.c.id)
        ).scalar_one()
        conn.execute(
            error_counts.insert(),
            [
                {"group_id": server, "bucket": T0, "consumer_id": alice, "count": 2},
                {"group_id": server, "bucket": T0, "consumer_id": alice, "count": 1},
                {"group_id": server, "bucket": T0 + 60, "consumer_id": NO_ID, "count": 4},
                {"group_id": server, "bucket": T0 + 3600, "consumer_id": bob, "count": 100},  # outside
                {"group_id": validation, "bucket": T0 + 120, "consumer_id": bob, "count": 5},
            ],
        )
    body = api.get("/errors", start=iso(T0), end=iso(T0 + 3600))
    assert body["server_errors"] == [
        {
            "id": server,
            "env": "prod",
            "method": "GET",
            "path": "/boom/<int:n>",
            "type": "builtins.ValueError",
            "msg": "kaboom",
            "traceback": "Traceback ...",
            "count": 7,
            "first_seen": iso(T0),
            "last_seen": iso(T0 + 600),
            "consumers": ["alice"],
            "consumer_names": {},  # neither consumer has a name
            "sentry_event_id": None,  # no client sent one
            "sentry_url": None,
        }
    ]
    assert body["validation_errors"] == [
        {
            "id": validation,
            "env": "dev",
            "method": "POST",
            "path": "/form",
            "loc": ["body", "age"],
            "msg": "not an int",
            "type": "int_parsing",
            "count": 5,
            "first_seen": iso(T0),
            "last_seen": iso(T0 + 600),
        }
    ]

    def counts(**params: Any) -> tuple[list[int], list[int]]:
        found = api.get("/errors", start=iso(T0), end=iso(T0 + 7200), **params)
        return [e["count"] for e in found["server_errors"]], [e["count"] for e in found["validation_errors"]]

    assert counts() == ([107], [5])
    assert counts(env="dev") == ([], [5])
    assert counts(consumer="alice") == ([3], [])
    assert counts(consumer="bob") == ([100], [5])
    assert counts(method="post") == ([], [5])
    assert counts(path="/boom/{n}") == ([107], [])
    assert counts(path="/boom/{n}", method="POST") == ([], [])


def test_instances(api: Any, db: Any) -> None:
    with db.write() as conn:
        prod = app_store.env_id_for(conn, api.app_id, "prod")
        dev = app_store.env_id_for(conn, api.app_id, "dev")
        conn.execute(
            instances.insert(),
            [
                {
                    "env_id": prod,
                    "instance_uuid": "11111111-1111-4111-8111-111111111111",
                    "client": "python:flask",
                    "versions": {"python": "3.11.7", "flask": "3.1"},
                    "app_version": "1.2",
                    "first_seen": T0,
                    "last_startup_at": T0,
                    "last_sync_at": T0 + 60,
                    "cpu_percent": 1.5,
                    "memory_rss": 44_000_000,
                },
                {
                    "env_id": dev,
                    "instance_uuid": "22222222-2222-4222-8222-222222222222",
                    "client": None,
                    "versions": None,
                    "app_version": None,
                    "first_seen": T0 + 1,
                    "last_startup_at": None,
                    "last_sync_at": None,
                    "cpu_percent": None,
                    "memory_rss": None,
                },
            ],
        )
    listed = api.get("/instances")
    assert [i["env"] for i in listed] == ["prod", "dev"]
    assert listed[0] == {
        "instance_uuid": "11111111-1111-4111-8111-111111111111",
        "env": "prod",
        "client": "python:flask",
        "versions": {"python": "3.11.7", "flask": "3.1"},
        "app_version": "1.2",
        "first_seen": iso(T0),
        "last_startup_at": iso(T0),
        "last_sync_at": iso(T0 + 60),
        "cpu_percent": 1.5,
        "memory_rss": 44_000_000,
    }
    assert listed[1]["versions"] == {} and listed[1]["last_sync_at"] is None
    assert [i["env"] for i in api.get("/instances", env="dev")] == ["dev"]
    assert api.get("/instances", env="staging") == []


def test_request_logs_filter_and_page_newest_first(api: Any, db: Any) -> None:
    item = api.writer.endpoint("prod", "GET", "/items/<int:id>")
    alice = api.writer.consumer("alice")
    rows = []
    for i in range(25):
        rows.append(
            {
                "uuid": f"00000000-0000-4000-8000-{i:012d}",
                "timestamp": T0 + (i // 2),  # pairs share a time
                "method": "get" if i % 3 else "POST",
                "path": "/items/<int:id>" if i % 3 else None,
                "endpoint_id": item if i % 3 else None,
                "url": f"https://x.test/items/{i}",
                "status_code": 200 if i % 5 else 500,
                "response_time": 0.012 * i,
                "consumer_id": alice if i % 2 else None,
                "request_size": i or None,
                "response_size": None,
                "trace_id": None,
                "details": {"response_headers": [["content-type", "application/json"]]},
            }
        )
    with db.write() as conn:
        prod = app_store.env_id_for(conn, api.app_id, "prod")
        conn.execute(request_logs.insert(), [{**r, "env_id": prod} for r in rows])
    window = {"start": T0, "end": T0 + 60}
    seen: list[str] = []
    before = None
    while True:
        page = api.get("/request-logs", limit=7, **window, **({"before": before} if before else {}))
        seen += [item["uuid"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    expected = [r["uuid"] for r in sorted(rows, key=lambda r: (r["timestamp"], r["uuid"]), reverse=True)]
    assert seen == expected  # no gaps, no repeats, newest first
    first = api.get("/request-logs", limit=1, **window)["items"][0]
    assert first == {
        "id": 25,
        "uuid": rows[24]["uuid"],
        "env": "prod",
        "timestamp": iso(T0 + 12),
        "method": "POST",
        "path": None,
        "url": "https://x.test/items/24",
        "status_code": 200,
        "response_time": 0.012 * 24,
        "consumer": None,
        "request_size": 24,
        "response_size": None,
        "trace_id": None,
        "details": {
            "request_headers": None,
            "request_body": None,
            "response_headers": [["content-type", "application/json"]],
            "response_body": None,
            "exception": None,
            "client_ip": None,
            "logs": None,
            "spans": None,
        },
    }

    def uuids(**params: Any) -> set[str]:
        return {i["uuid"] for i in api.get("/request-logs", limit=1000, **{**window, **params})["items"]}

    def where(keep: Any) -> set[str]:
        return {r["uuid"] for r in rows if keep(r)}

    assert uuids(consumer="alice") == where(lambda r: r["consumer_id"] == alice)
    assert uuids(method="GET") == where(lambda r: r["method"] == "get")
    assert uuids(path="/items/{id}") == where(lambda r: r["endpoint_id"] == item)
    assert uuids(status="5xx") == where(lambda r: r["status_code"] == 500)
    assert uuids(status="200", consumer="alice") == where(
        lambda r: r["status_code"] == 200 and r["consumer_id"]
    )
    assert uuids(env="dev") == set()
    assert uuids(start=T0 + 5, end=T0 + 6) == where(lambda r: r["timestamp"] == T0 + 5)
