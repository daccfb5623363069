"""The read API served by a real `tallyhub serve` process over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from tallyhub.storage.database import Database

from tests.support.hub_process import HubProcess
from tests.support.metric_rows import MetricWriter, Req, assert_stats

T0 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())


def test_traffic_over_http(hub: HubProcess) -> None:
    created = hub.create_app("Shop", "prod")
    app_id = int(str(created["id"]))
    db = Database(hub.database_url)
    try:
        reqs = [
            Req(T0 + 7 * i, "GET", "/items/<int:id>", 200 if i % 5 else 503, f"c{i % 3}", 3 * i, 10, 900)
            for i in range(200)
        ]
        MetricWriter(db, app_id).write(reqs, rolled=True)
    finally:
        db.dispose()
    assert hub.api("/apps") == [
        {
            "id": app_id,
            "name": "Shop",
            "client_id": created["client_id"],
            "envs": ["prod"],
            "created_at": hub.api("/apps")[0]["created_at"],
            "framework": None,
        }  # type: ignore[index]
    ]
    body: Any = hub.api(
        f"/apps/{app_id}/traffic", start=T0, end=T0 + 86400, interval="hour", path="/items/{id}"
    )
    assert_stats(body["totals"], reqs)
    assert len(body["series"]) == 24
    by_consumer: Any = hub.api(f"/apps/{app_id}/consumers", start=T0, end=T0 + 86400)
    assert sorted((c["identifier"], c["requests"]) for c in by_consumer) == [
        ("c0", 67),
        ("c1", 67),
        ("c2", 66),
    ]


def test_401_and_openapi_over_http(hub: HubProcess) -> None:
    response = httpx.get(f"{hub.url}/api/v1/apps", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json() == {"detail": "unknown token"}
    assert httpx.get(f"{hub.url}/api/v1/apps").status_code == 401
    schema = httpx.get(f"{hub.url}/api/v1/openapi.json").json()
    assert "/api/v1/apps/{app_id}/traffic" in schema["paths"]
