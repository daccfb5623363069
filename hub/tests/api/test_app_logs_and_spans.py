"""Application logs and spans across requests in the read API (both engines): every record paged
newest first, the filters, the links to requests, spans by name with percentiles and examples."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import app_logs as data

T0 = 1_795_651_200.0
WINDOW = {"start": T0, "end": T0 + 3600}


@pytest.fixture
def stored(api: Any) -> dict[str, Any]:
    prod = [data.request(i, T0) for i in range(data.N)]
    data.store(api.writer.db, api.app_id, "prod", prod, T0 + 3600)
    dev = [data.request(0, T0 + 5, env="dev")]
    data.store(api.writer.db, api.app_id, "dev", dev, T0 + 3600)
    server, items = data.otlp_request(T0 + 1000.5)
    data.store(api.writer.db, api.app_id, "prod", [server], T0 + 3600, items)
    return {"records": data.expected_records(prod, "prod") + data.expected_records(dev, "dev")}


def _all(api: Any, limit: int = 7, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    before = None
    while True:
        page = api.get("/app-logs", limit=limit, **WINDOW, **params, **({"before": before} if before else {}))
        items += page["items"]
        before = page["next_before"]
        if before is None:
            return items


def _expected(records: list[data.Record]) -> list[tuple[str, str, str, str]]:
    ordered = sorted(records, key=lambda r: r.timestamp, reverse=True)
    return [(r.env, r.level, r.logger, r.message) for r in ordered]


def _shown(items: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(i["env"], i["level"], i["logger"], i["message"]) for i in items if i["logger"] != "otlp.logger"]


def test_every_record_newest_first_with_its_request(api: Any, stored: dict[str, Any]) -> None:
    items = _all(api)
    assert _shown(items) == _expected(stored["records"])
    assert len(items) == len(stored["records"]) + 2 and len({i["id"] for i in items}) == len(items)
    for item in [i for i in items if i["logger"] != "otlp.logger"][:5]:
        request = api.get(f"/request-logs/{item['request']['id']}")
        assert item["message"] in [log["message"] for log in request["details"]["logs"]]
        assert item["request"]["url"] == request["url"] and item["request"]["method"] == "POST"
    otlp = {i["message"]: i for i in items if i["logger"] == "otlp.logger"}
    assert otlp["from otlp"]["level"] == "INFO" and otlp["from otlp"]["trace_id"] == data.OTLP_TRACE
    assert api.get(f"/request-logs/{otlp['from otlp']['request']['id']}")["url"] == "https://shop.test/otlp"
    assert otlp["orphan record"]["request"] is None
    assert _shown(_all(api, env="dev")) == _expected([r for r in stored["records"] if r.env == "dev"])
    assert api.get("/app-logs", start=T0 - 7200, end=T0)["items"] == []


def test_filters(api: Any, stored: dict[str, Any]) -> None:
    records = stored["records"]
    assert _shown(_all(api, level="error")) == _expected([r for r in records if r.level == "ERROR"])
    assert _shown(_all(api, logger="shop.db", level="INFO")) == _expected(
        [r for r in records if r.logger == "shop.db" and r.level == "INFO"]
    )
    assert _shown(_all(api, message="STEP 1")) == _expected([r for r in records if "step 1" in r.message])
    assert _all(api, message="step_1") == []  # _ is a character, not a wildcard
    for bad in ({"level": "x" * 17}, {"message": "m" * 201}, {"logger": "a\x00"}, {"limit": 0}):
        response = api.client.get(f"/api/v1/apps/{api.app_id}/app-logs", params=bad)
        assert response.status_code == 422 and next(iter(bad)) in response.text, bad


def test_spans_by_name_slowest_first_with_examples(api: Any, stored: dict[str, Any]) -> None:
    found = api.get("/spans", **WINDOW)
    names = [(s["name"], s["count"]) for s in found["names"]]
    assert names == [("http.call", 4), ("db.query", data.N + 1), ("otlp.child", 1), ("render", 31)]
    assert found["total"] == 4
    db_query = found["names"][1]
    # 1 to 30 ms (and dev's 1 ms): p50 16 ms, p95 29 ms, within the bins' 6 %.
    assert abs(db_query["p50_ms"] - 16) / 16 < 0.07 and abs(db_query["p95_ms"] - 29) / 29 < 0.07
    assert all(e["duration_ms"] >= 28 for e in db_query["examples"]) and db_query["examples"]
    example = api.get(f"/request-logs/{db_query['examples'][0]['id']}")
    assert example["url"] == db_query["examples"][0]["url"]
    assert "db.query" in [s["name"] for s in example["details"]["spans"]]
    assert found["names"][2]["examples"][0]["url"] == "https://shop.test/otlp"  # joined by trace id
    top = api.get("/spans", limit=2, **WINDOW)
    assert [s["name"] for s in top["names"]] == ["http.call", "db.query"] and top["total"] == 4
    assert [s["name"] for s in api.get("/spans", env="dev", **WINDOW)["names"]] == [
        "http.call",
        "db.query",
        "render",
    ]
    assert api.get("/spans", start=T0 - 7200, end=T0) == {"names": [], "total": 0}
    for bad in ({"limit": 0}, {"limit": 201}, {"start": "yesterday"}):
        assert api.client.get(f"/api/v1/apps/{api.app_id}/spans", params=bad).status_code == 422, bad


def test_openapi_documents_both_routes(api: Any) -> None:
    paths = api.client.get("/api/v1/openapi.json").json()["paths"]
    logs = paths["/api/v1/apps/{app_id}/app-logs"]["get"]
    assert {p["name"] for p in logs["parameters"]} >= {
        "env",
        "start",
        "end",
        "level",
        "logger",
        "message",
        "before",
    }
    spans = paths["/api/v1/apps/{app_id}/spans"]["get"]
    assert {p["name"] for p in spans["parameters"]} >= {"env", "start", "end", "limit"}
