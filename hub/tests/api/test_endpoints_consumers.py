"""GET endpoints and consumers with their statistics; PATCH a consumer's name and group."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from tallyhub.storage.tables import consumers

from tests.support.metric_rows import Req, assert_stats

T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
RANGE = {"start": T0, "end": T0 + 3600}


def seed(api: Any) -> list[Any]:
    api.writer.endpoint("prod", "get", "/items/{item_id}", in_startup=True, summary="Get an item")
    api.writer.endpoint("prod", "GET", "/never-called", in_startup=True)
    api.writer.consumer("alice", name="Alice", group="admins")
    api.writer.consumer("bob", group="admins")
    api.writer.consumer("carol", name="Carol")
    reqs = [
        Req(T0 + 10, "GET", "/items/<int:item_id>", 200, "alice", 30, 100, 2500),
        Req(T0 + 70, "GET", "/items/<int:item_id>", 404, "bob", 5, None, 300, env="dev"),
        Req(T0 + 80, "GET", "/items/:id", 500, None, 900, 50, None, env="dev"),
        Req(T0 + 90, "POST", "/items", 201, "alice", 120, 4000, 10),
        Req(T0 + 4000, "POST", "/items", 201, "carol", 120, 4000, 10),  # outside RANGE
    ]
    api.writer.write(reqs)
    return reqs


def test_endpoints_include_uncalled_ones_and_merge_envs(api: Any) -> None:
    reqs = seed(api)
    listed = api.get("/endpoints", **RANGE)
    assert [(e["method"], e["path_key"]) for e in listed] == [
        ("POST", "/items"),
        ("GET", "/items/{}"),
        ("GET", "/never-called"),
    ]
    items, get_item, never = listed
    assert get_item["path"] == "/items/{item_id}"  # the first spelling seen
    assert sorted(get_item["envs"]) == ["dev", "prod"]
    assert get_item["in_startup"] is True and get_item["summary"] == "Get an item"
    assert_stats(get_item, [r for r in reqs[:3]])
    assert_stats(items, [reqs[3]])
    assert never["envs"] == ["prod"] and never["requests"] == 0 and never["p50"] is None
    assert items["in_startup"] is False
    # Filters: env, method (any case), path (any syntax).
    dev = api.get("/endpoints", env="dev", **RANGE)
    assert [(e["method"], e["path_key"], e["requests"]) for e in dev] == [("GET", "/items/{}", 2)]
    only = api.get("/endpoints", method="get", path="/items/<id>", **RANGE)
    assert [e["path_key"] for e in only] == ["/items/{}"]
    assert api.get("/endpoints", path="/nowhere", **RANGE) == []


def test_consumers_with_stats_and_group_filter(api: Any) -> None:
    reqs = seed(api)
    listed = api.get("/consumers", **RANGE)
    assert [c["identifier"] for c in listed] == ["alice", "bob", "carol"]  # busiest first
    alice, bob, carol = listed
    assert (alice["name"], alice["group"]) == ("Alice", "admins")
    assert_stats(alice, [reqs[0], reqs[3]])
    assert_stats(bob, [reqs[1]])
    assert carol["requests"] == 0
    admins = api.get("/consumers", group="admins", env="dev", **RANGE)
    assert [(c["identifier"], c["requests"]) for c in admins] == [("bob", 1), ("alice", 0)]
    assert api.get("/consumers", group="nobody", **RANGE) == []


def test_patch_consumer_sets_and_clears_as_a_person(api: Any, db: Any) -> None:
    api.writer.consumer("user/42", name="Client name", group="free")
    url = f"/api/v1/apps/{api.app_id}/consumers/user/42"
    response = api.client.patch(url, json={"name": "Ann"})
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["group"]) == ("Ann", "free")
    with db.read() as conn:
        row = conn.execute(sa.select(consumers).where(consumers.c.identifier == "user/42")).one()
    assert (row.name_set_by_user, row.group_set_by_user) == (True, False)
    response = api.client.patch(url, json={"group": ""})
    assert response.json()["group"] is None and response.json()["name"] == "Ann"
    response = api.client.patch(url, json={"name": None, "group": "pro"})
    assert (response.json()["name"], response.json()["group"]) == (None, "pro")
    with db.read() as conn:
        row = conn.execute(sa.select(consumers).where(consumers.c.identifier == "user/42")).one()
    assert (row.name_set_by_user, row.group_set_by_user) == (True, True)
    # Unchanged by an empty body; 404 for unknown consumers or apps; 422 for long or unknown fields.
    assert api.client.patch(url, json={}).json()["group"] == "pro"
    missing = api.client.patch(f"/api/v1/apps/{api.app_id}/consumers/nobody", json={"name": "x"})
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
    assert api.client.patch("/api/v1/apps/999/consumers/user/42", json={"name": "x"}).status_code == 404
    too_long = api.client.patch(url, json={"name": "x" * 65})
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "name"]
    assert api.client.patch(url, json={"nickname": "x"}).status_code == 422
    assert api.client.patch(url, json={"name": "a\x00b"}).status_code == 422
    assert (
        api.client.patch(url, content=b"not json", headers={"Content-Type": "application/json"}).status_code
        == 422
    )
