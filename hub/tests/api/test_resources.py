"""GET /api/v1/apps/{id}/resources: instances' CPU and memory per bucket and env, from real syncs."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.support.syncs import request_entry, sync_body


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sync(api: Any, env: str, instance: str, at: float, cpu: float, memory: int, requests: int) -> None:
    body = sync_body(
        instance,
        at,
        requests=[request_entry("GET", "/items", 200, requests, 20)],
        resources={"cpu_percent": cpu, "memory_rss": memory},
    )
    response = api.client.post(f"/v2/{api.client_id}/{env}/sync", json=body)
    assert response.status_code == 202, response.text


def test_resources_per_env_and_minute_with_the_request_rate(api: Any) -> None:
    minute = int(time.time() // 60) * 60 - 600
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    _sync(api, "prod", a, minute + 5, 10.0, 100_000_000, 30)
    _sync(api, "prod", b, minute + 40, 30.0, 300_000_000, 12)
    _sync(api, "dev", a, minute + 70, 2.0, 20_000_000, 1)
    found = api.get("/resources", start=iso(minute), end=iso(minute + 180), interval="minute")
    assert (found["interval"], found["start"]) == ("minute", iso(minute))
    assert [e["env"] for e in found["envs"]] == ["dev", "prod"]
    prod = found["envs"][1]["series"]
    assert [p["time"] for p in prod] == [iso(minute + 60 * i) for i in range(3)]
    assert prod[0] == {
        "time": iso(minute),
        "cpu_min": 10.0,
        "cpu_avg": 20.0,
        "cpu_max": 30.0,
        "memory_min": 100_000_000,
        "memory_avg": 200_000_000,
        "memory_max": 300_000_000,
        "requests": 42,
        "requests_per_minute": 42.0,
    }
    assert prod[1]["cpu_avg"] is None and prod[1]["requests"] == 0
    only_prod = api.get("/resources", env="prod", start=iso(minute), end=iso(minute + 3600), interval="hour")
    (hour,) = [p for p in only_prod["envs"][0]["series"] if p["cpu_max"] is not None]
    assert (hour["cpu_max"], hour["requests"], hour["requests_per_minute"]) == (30.0, 42, 0.7)
    assert [e["env"] for e in only_prod["envs"]] == ["prod"]


def test_resources_refuse_a_bad_interval_naming_it(api: Any) -> None:
    response = api.client.get(f"/api/v1/apps/{api.app_id}/resources", params={"interval": "week"})
    assert response.status_code == 422 and "interval" in response.text
