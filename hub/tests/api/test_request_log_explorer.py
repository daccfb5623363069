"""The request-log explorer in the read API: every filter against the stored logs, body search through
the engine's text index, the detail, CSV (Accept or format=csv) with formula escaping, team tokens."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import sqlalchemy as sa
from tallyhub.accounts import teams
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.analytics import csv_export
from tallyhub.ingest import batch
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import request_logs

from tests.support.metric_rows import Req
from tests.support.request_logs import sample_log, store_logs

T0 = 1_795_651_200.0
N = 60
WINDOW = {"start": T0, "end": T0 + 3600}


@pytest.fixture
def logged(api: Any) -> list[batch.RequestLog]:
    logs = [sample_log(i, T0) for i in range(N)]
    store_logs(api.writer.db, api.app_id, "prod", logs[: N // 2], T0 + 3600)
    store_logs(api.writer.db, api.app_id, "dev", logs[N // 2 :], T0 + 3600)
    return logs


def _uuids(api: Any, **params: Any) -> list[str]:
    return [i["uuid"] for i in api.get("/request-logs", limit=1000, **{**WINDOW, **params})["items"]]


def _expect(logs: list[batch.RequestLog], keep: Any) -> list[str]:
    return [log.uuid for log in sorted(logs, key=lambda log: -log.timestamp) if keep(log)]


def _text(encoded: str | None) -> str:
    import base64

    try:
        return base64.b64decode(encoded or "").decode()
    except UnicodeDecodeError:
        return ""


def test_every_filter_alone_and_combined(api: Any, logged: list[batch.RequestLog]) -> None:
    assert _uuids(api) == _expect(logged, lambda log: True)  # newest first across both envs
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"env": "dev"}, lambda log: log.timestamp >= T0 + N // 2),
        ({"start": T0 + 10, "end": T0 + 20}, lambda log: T0 + 10 <= log.timestamp < T0 + 20),
        ({"consumer": "acme"}, lambda log: log.consumer == "acme"),
        ({"method": "post"}, lambda log: log.method == "POST"),
        ({"path": "/items/<id>"}, lambda log: log.path == "/items/{id}"),
        ({"status": "5xx"}, lambda log: log.status_code >= 500),
        ({"status": "404"}, lambda log: log.status_code == 404),
        ({"client_ip": "10.0.0.2"}, lambda log: log.client_ip == "10.0.0.2"),
        ({"url": "ITEMS/1"}, lambda log: "items/1" in log.url),
        ({"url": "q=5"}, lambda log: "q=5" in log.url),
        ({"request_body": "needle2"}, lambda log: "needle2" in _text(log.request_body).lower()),
        ({"request_body": "2_50%"}, lambda log: "2_50%" in _text(log.request_body)),
        ({"request_body": "_5"}, lambda log: "_5" in _text(log.request_body)),  # under 3 characters
        ({"response_body": "widget 1"}, lambda log: "widget 1" in _text(log.response_body).lower()),
        ({"response_body": "binary"}, lambda log: False),  # not UTF-8: not searched
        (
            {"request_size_min": "1000", "request_size_max": "3000"},
            lambda log: log.request_size is not None and 1000 <= log.request_size <= 3000,
        ),
        ({"response_size_min": "500"}, lambda log: (log.response_size or 0) >= 500),
        (
            {"response_time_min": "100", "response_time_max": "150"},
            lambda log: 0.1 <= log.response_time <= 0.15,
        ),
        ({"has_exception": "true"}, lambda log: log.exception is not None),
        ({"has_exception": "false"}, lambda log: log.exception is None),
        ({"trace_id": f"{8:032X}"}, lambda log: log.trace_id == f"{8:032x}"),
        ({"group": "nobody"}, lambda log: False),
        (
            {"env": "prod", "method": "POST", "request_body": "needle", "has_exception": "true"},
            lambda log: log.timestamp < T0 + N // 2 and log.method == "POST" and log.exception is not None,
        ),
    ]
    for params, keep in cases:
        assert _uuids(api, **params) == _expect(logged, keep), params


def test_pages_merge_envs_without_gaps_or_repeats(api: Any, logged: list[batch.RequestLog]) -> None:
    seen: list[str] = []
    before = None
    while True:
        page = api.get("/request-logs", limit=7, **WINDOW, **({"before": before} if before else {}))
        seen += [item["uuid"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == _expect(logged, lambda log: True)


def test_detail_has_bodies_exception_logs_and_trace(api: Any, logged: list[batch.RequestLog]) -> None:
    item = next(
        i for i in api.get("/request-logs", limit=1000, **WINDOW)["items"] if i["uuid"] == logged[0].uuid
    )
    detail = api.get(f"/request-logs/{item['id']}")
    assert detail == item
    assert detail["details"]["request_body"] == logged[0].request_body
    assert detail["details"]["logs"] == [
        {"timestamp": T0 + 0.001, "logger": "shop.pay", "level": "WARNING", "message": "charging order 0"}
    ]
    assert [s["name"] for s in detail["details"]["spans"]] == ["POST /pay", "db.query"]
    failed = next(i for i in api.get("/request-logs", has_exception="true", **WINDOW)["items"])
    assert (
        "ValueError: card declined"
        in api.get(f"/request-logs/{failed['id']}")["details"]["exception"]["traceback"]
    )
    other = app_store.create_app(api.writer.db, "Other", ("prod",))
    assert api.client.get(f"/api/v1/apps/{other.id}/request-logs/{item['id']}").status_code == 404
    assert api.client.get(f"/api/v1/apps/{api.app_id}/request-logs/999999").status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"trace_id": "xyz"},
        {"has_exception": "maybe"},
        {"request_size_min": "-1"},
        {"request_size_min": "5", "request_size_max": "4"},
        {"response_time_max": "nan"},
        {"response_time_min": "fast"},
        {"url": "x" * 201},
        {"request_body": "a\x00b"},
        {"format": "xml"},
    ],
)
def test_bad_filters_are_422_naming_the_parameter(api: Any, params: dict[str, str]) -> None:
    response = api.client.get(f"/api/v1/apps/{api.app_id}/request-logs", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] in params


def _csv(api: Any, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, str]]:
    response = api.client.get(
        f"/api/v1/apps/{api.app_id}/request-logs", params={**WINDOW, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_csv_round_trip_with_the_same_filters(api: Any, logged: list[batch.RequestLog]) -> None:
    rows = _csv(api, format="csv")
    assert [r["id"] for r in rows] == [
        str(i["id"]) for i in api.get("/request-logs", limit=1000, **WINDOW)["items"]
    ]
    by_uuid = {log.uuid: log for log in logged}
    listed = {i["id"]: by_uuid[i["uuid"]] for i in api.get("/request-logs", limit=1000, **WINDOW)["items"]}
    for row in rows:
        log = listed[int(row["id"])]
        assert row["method"] == log.method and row["url"] == log.url and row["endpoint"] == log.path
        assert int(row["status_code"]) == log.status_code
        assert float(row["response_time_ms"]) == pytest.approx(log.response_time * 1000)
        assert row["request_size"] == ("" if log.request_size is None else str(log.request_size))
        assert row["consumer"] == (log.consumer or "") and row["client_ip"] == log.client_ip
        assert row["exception_type"] == (log.exception.type if log.exception else "")
        assert row["trace_id"] == (log.trace_id or "")
        assert row["env"] == ("prod" if log.timestamp < T0 + N // 2 else "dev")
    accepted = _csv(api, headers={"Accept": "text/csv"}, status="5xx", env="prod")
    assert [r["id"] for r in accepted] == [
        r["id"] for r in rows if r["status_code"] == "500" and r["env"] == "prod"
    ]
    assert api.client.get(
        f"/api/v1/apps/{api.app_id}/request-logs", params={**WINDOW, "format": "json"}
    ).json()["items"]


def test_csv_escapes_formulas_and_stops_at_the_row_cap(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = [
        batch.RequestLog(
            f"00000000-0000-4000-8000-00000000000{i}", T0 + i, "GET", None, url, 200, 0.01, consumer=consumer
        )
        for i, (url, consumer) in enumerate(
            [('=HYPERLINK("http://x")', "+cmd"), ("-2+3", "@SUM(A1)"), ("\tx", "=1"), ("ok", "safe")]
        )
    ]
    store_logs(api.writer.db, api.app_id, "prod", evil, T0 + 60)
    rows = _csv(api, format="csv")
    assert [(r["url"], r["consumer"]) for r in rows] == [
        ("ok", "safe"),
        ("'\tx", "'=1"),
        ("'-2+3", "'@SUM(A1)"),
        ('\'=HYPERLINK("http://x")', "'+cmd"),
    ]
    assert csv_export.escape_cell(-2.5) == "-2.5"  # numbers stay numbers
    monkeypatch.setattr(csv_export, "MAX_ROWS", 2)
    assert len(_csv(api, format="csv")) == 2


def test_traffic_csv_series_and_endpoints(api: Any) -> None:
    api.writer.write([Req(T0 + 120 + i, "GET", "/items", 200) for i in range(3)])
    series = api.client.get(
        f"/api/v1/apps/{api.app_id}/traffic", params={**WINDOW, "interval": "hour", "format": "csv"}
    )
    assert series.status_code == 200 and series.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(series.text)))
    assert sum(int(r["requests"]) for r in lines) == 3
    expected = api.get("/traffic", **WINDOW, interval="hour")["series"]
    assert [(r["time"], int(r["requests"])) for r in lines] == [(p["time"], p["requests"]) for p in expected]
    table = api.client.get(
        f"/api/v1/apps/{api.app_id}/traffic",
        params={**WINDOW, "table": "endpoints"},
        headers={"Accept": "text/csv"},
    )
    assert table.text.splitlines()[0].startswith("method,path,requests")


def test_team_tokens_and_deleted_rows_leave_the_text_index(api: Any, logged: list[batch.RequestLog]) -> None:
    with api.writer.db.write() as conn:
        other = teams.ensure_team(conn, "Other").id
        token = create_team_token(conn, other, "ci")
    headers = {"Authorization": f"Bearer {token}"}
    for route in ("/request-logs", "/request-logs/1", "/request-logs?format=csv"):
        assert api.client.get(f"/api/v1/apps/{api.app_id}{route}", headers=headers).status_code == 404, route
    assert _uuids(api, request_body="needle1")
    with api.writer.db.write() as conn:
        conn.execute(request_logs.delete().where(request_logs.c.timestamp < T0 + 30))
    assert _uuids(api, request_body="needle1") == _expect(
        logged, lambda log: log.timestamp >= T0 + 30 and "Needle1" in _text(log.request_body)
    )
    if api.writer.db.is_sqlite:  # the FTS table holds no row of a deleted log
        with api.writer.db.read() as conn:
            ids = set(conn.execute(sa.text("SELECT rowid FROM request_logs_fts")).scalars())
            kept = set(conn.execute(sa.select(request_logs.c.id)).scalars())
        assert ids <= kept


@pytest.mark.parametrize("probe_rows", [2000, 5])
def test_body_search_pages_are_the_same_whichever_way_sqlite_answers(
    api: Any, logged: list[batch.RequestLog], monkeypatch: pytest.MonkeyPatch, probe_rows: int
) -> None:
    """SQLite checks a page's newest rows with LIKE first and falls back to FTS5: the pages agree."""
    from tallyhub.analytics import request_logs as reads

    monkeypatch.setattr(reads, "PROBE_ROWS", probe_rows)
    for params, keep in (
        ({"request_body": "NEEDLE"}, lambda log: "needle" in _text(log.request_body).lower()),
        ({"response_body": "widget"}, lambda log: "widget" in _text(log.response_body).lower()),
        (
            {"response_body": "idget 1", "env": "prod"},
            lambda log: "idget 1" in _text(log.response_body) and log.timestamp < T0 + N // 2,
        ),
    ):
        seen: list[str] = []
        before = None
        while True:
            page = api.get(
                "/request-logs", limit=3, **WINDOW, **params, **({"before": before} if before else {})
            )
            seen += [item["uuid"] for item in page["items"]]
            before = page["next_before"]
            if before is None:
                break
        assert seen == _expect(logged, keep), params


def test_a_text_body_is_stored_once_and_read_back_as_sent(api: Any, logged: list[batch.RequestLog]) -> None:
    # A base64 that decodes to "hi" but is not what encoding "hi" gives ("aGk="): kept as sent.
    odd = sample_log(N, T0)
    odd.request_body = "aGl="
    store_logs(api.writer.db, api.app_id, "prod", [odd], T0 + 3600)
    sent = {log.uuid: log for log in [*logged, odd]}
    with api.writer.db.read() as conn:
        stored = conn.execute(sa.select(request_logs.c.uuid, request_logs.c.details)).all()
    for uuid, details in stored:
        for name in ("request_body", "response_body"):
            body = getattr(sent[uuid], name)
            once = _text(body) != "" and uuid != odd.uuid if name == "request_body" else _text(body) != ""
            # A UTF-8 body lives in its text column alone; a binary or odd one stays in details.
            assert details[name] == (None if once else body), (uuid, name)
            assert (name in details.get("text_bodies", [])) == once
    items = api.get("/request-logs", limit=1000, **WINDOW)["items"]
    assert len(items) == N + 1
    for item in items:
        detail = api.get(f"/request-logs/{item['id']}")
        for name in ("request_body", "response_body"):
            assert item["details"][name] == detail["details"][name] == getattr(sent[item["uuid"]], name)
