"""The data pages' figures, sent through real Hub v2 ingestion and checked against the values sent.

Every page, every filter, detail views, the consumer edit (roles, CSRF, kept over client values),
another team's user and a viewer (both engines).
"""

from __future__ import annotations

import html
import json
import re
import uuid
from typing import Any

import pytest
from tallyhub.storage import apps as app_store

from tests.support.syncs import request_entry, startup_body, sync_body

INSTANCE = str(uuid.uuid4())
TRACEBACK = 'Traceback (most recent call last):\n  File "app.py", line 9, in pay\nRuntimeError: card declined'


@pytest.fixture
def shop(web: Any) -> dict[str, Any]:
    """Acme (admin ann, member mia, viewer vic) owns Shop, with one startup and one sync; eve is in Other."""
    web.user("ann@example.com", "Acme", "admin")
    web.user("mia@example.com", "Acme", "member")
    web.user("vic@example.com", "Acme", "viewer")
    web.user("eve@example.com", "Other", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))
    client = web.client()
    paths = [("GET", "/items"), ("POST", "/pay"), ("GET", "/items/<int:id>"), ("DELETE", "/never/called")]
    sent = client.post(f"/v2/{app.client_id}/prod/startup", json=startup_body(INSTANCE, paths))
    assert sent.status_code == 202, sent.text
    body = sync_body(
        INSTANCE,
        requests=[
            request_entry("GET", "/items", 200, 60, 20, "alice", response_size=2500),
            request_entry("GET", "/items", 200, 30, 40, "bob", response_size=2500),
            request_entry("GET", "/items/<int:id>", 404, 6, 10, "bob", response_size=100),
            request_entry("POST", "/pay", 500, 4, 1200, "alice", response_size=100, request_size=3000),
        ],
        server_errors=[
            {
                "consumer": "alice",
                "method": "POST",
                "path": "/pay",
                "type": "builtins.RuntimeError",
                "msg": "card declined",
                "traceback": TRACEBACK,
                "sentry_event_id": None,
                "error_count": 4,
            }
        ],
        validation_errors=[
            {
                "consumer": "bob",
                "method": "GET",
                "path": "/items/<int:id>",
                "loc": ["query", "limit"],
                "msg": "not an int",
                "type": "int_parsing",
                "error_count": 6,
            }
        ],
        consumers=[
            {"identifier": "alice", "name": "Alice", "group": "Partners"},
            {"identifier": "bob", "name": "Bob", "group": None},
        ],
        resources={"cpu_percent": 12.5, "memory_rss": 52_000_000},
    )
    sent = client.post(f"/v2/{app.client_id}/prod/sync", json=body)
    assert sent.status_code == 202, sent.text
    return {"app": app, "id": app.id, "client": client}


def _stats(page: str) -> dict[str, str]:
    """The page's headline figures: label -> shown value."""
    pairs = re.findall(r'<span class="label">([^<]*)</span><span class="value">([^<]*)</span>', page)
    return {html.unescape(k): html.unescape(v) for k, v in pairs}


def _charts(page: str) -> dict[str, dict[str, Any]]:
    found = re.findall(r'id="chart-([\w-]+)" data-chart="([^"]*)"', page)
    return {name: json.loads(html.unescape(data)) for name, data in found}


def _series_sum(chart: dict[str, Any], label: str) -> float:
    [series] = [s for s in chart["series"] if s["label"] == label]
    return sum(v or 0 for v in series["values"])


def _get(client: Any, url: str, /, **params: str) -> str:
    # No params= when there are none: httpx would drop a query string already in `url`.
    response = client.get(url, params=params) if params else client.get(url)
    assert response.status_code == 200, (url, params, response.text[:500])
    return str(response.text)


def test_overview_has_each_apps_figures(web: Any, shop: dict[str, Any]) -> None:
    page = _get(web.signed_in("vic@example.com"), "/apps")
    row = page.split(">Shop</a>")[1].split("</tr>")[0]
    cells = [html.unescape(c) for c in re.findall(r'<td class="num">([^<]*)</td>', row)]
    # 10 errors of 100; rank 95 is 29 of the 30 requests into the 40 ms bin: 49.7 ms.
    assert cells == ["100", "10.0 %", "50 ms"]
    assert "<polyline" in row


def test_traffic_page(web: Any, shop: dict[str, Any]) -> None:
    page = _get(web.signed_in("vic@example.com"), f"/apps/{shop['id']}/traffic")
    stats = _stats(page)
    assert stats["Requests"] == "100"
    assert stats["Error rate"] == "10.0 %"
    assert stats["Data sent"] == "226.0 KB"  # 90 x 2500 + 10 x 100 bytes
    assert stats["Data received"] == "12.0 KB"
    assert stats["Requests per minute"] == "%.1f" % (100 / (24 * 60))
    charts = _charts(page)
    assert set(charts) == {"requests", "error-rate", "bytes"}
    assert [_series_sum(charts["requests"], c) for c in ("2xx/3xx", "4xx", "5xx")] == [90, 6, 4]
    assert charts["requests"]["kind"] == "stacked" and charts["error-rate"]["kind"] == "lines"
    assert _series_sum(charts["bytes"], "Sent") == 226_000
    assert "No requests in this range" not in page
    table = page.split('id="endpoints-table"')[1]
    assert table.index("GET /items</code>") < table.index("POST /pay")  # busiest first
    assert "/never/called" not in table  # only endpoints with requests here
    assert 'data-search="endpoints-table"' in page and 'data-sort="num"' in table


def test_an_empty_range_shows_the_empty_state_not_a_flat_line(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    quiet = {"period": "custom", "start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}
    for slug, charts in (("traffic", 3), ("errors", 1), ("performance", 3), ("data-transferred", 3)):
        page = _get(client, f"/apps/{shop['id']}/{slug}", **quiet)
        assert _charts(page) == {}, slug
        assert page.count('<p class="empty-state"') == charts, slug


def test_errors_page(web: Any, shop: dict[str, Any]) -> None:
    page = _get(web.signed_in("vic@example.com"), f"/apps/{shop['id']}/errors")
    assert _stats(page)["Client errors (4xx)"] == "6" and _stats(page)["Server errors (5xx)"] == "4"
    chart = _charts(page)["errors"]
    assert (_series_sum(chart, "4xx"), _series_sum(chart, "5xx")) == (6, 4)
    per_endpoint = page.split('id="error-endpoints"')[1].split("</table>")[0]
    assert "GET /items/&lt;int:id&gt;" in per_endpoint and "POST /pay" in per_endpoint
    assert "GET /items</code>" not in per_endpoint
    server = page.split("<h2>Server errors</h2>")[1].split("</section>")[0]
    assert "builtins.RuntimeError" in server and "card declined" in server
    assert "line 9, in pay\nRuntimeError: card declined</pre>" in server
    assert re.search(r'<td class="num">4</td>', server)
    assert "consumer=alice" in server and "bob" not in server
    fields = page.split("Validation errors by field")[1]
    assert "<code>query.limit</code>" in fields and "not an int" in fields


def test_performance_page(web: Any, shop: dict[str, Any]) -> None:
    page = _get(web.signed_in("vic@example.com"), f"/apps/{shop['id']}/performance")
    stats = _stats(page)
    # 6 x 10 ms, 60 x 20 ms, 30 x 40 ms, 4 x 1200 ms, linear within each 10 ms bin: rank 50 is 44/60 into
    # the 20 ms bin (27.3), rank 75 9/30 into the 40 ms bin (43), rank 95 29/30 (49.7), rank 99 3/4 into
    # the 1200 ms bin (1207.5).
    assert (stats["p50"], stats["p75"], stats["p95"], stats["p99"]) == (
        "≈ 27 ms",
        "≈ 43 ms",
        "≈ 50 ms",
        "≈ 1,208 ms",
    )
    assert stats["Apdex (T = 500 ms)"] == "0.98"  # 96 satisfied, 4 tolerating (<= 4T)
    chart = _charts(page)["percentiles"]
    assert [s["label"] for s in chart["series"]] == ["p50", "p75", "p95", "p99"]
    histogram = _charts(page)["response-times"]
    assert histogram["kind"] == "histogram" and _series_sum(histogram, "Requests") == 100
    width = histogram["highs"][0] - histogram["times"][0]  # equal bins, a multiple of 10 ms, from 0
    assert histogram["times"][0] == 0 and width % 10 == 0
    assert histogram["highs"][:-1] == histogram["times"][1:]
    slowest = page.split("Slowest endpoints")[1]
    assert slowest.index("POST /pay") < slowest.index("GET /items</code>")


def test_data_transferred_page(web: Any, shop: dict[str, Any]) -> None:
    page = _get(web.signed_in("vic@example.com"), f"/apps/{shop['id']}/data-transferred")
    stats = _stats(page)
    assert stats["Sent (responses)"] == "226.0 KB"
    assert stats["Average response size"] == "2.3 KB"  # 226000 / 100
    assert stats["Average request size"] == "120 B"  # 12000 / 100
    charts = _charts(page)
    for name in ("request-sizes", "response-sizes"):
        assert charts[name]["kind"] == "histogram" and _series_sum(charts[name], "Requests") == 100, name


def test_endpoints_page_lists_never_called_endpoints_and_detail(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    page = _get(client, f"/apps/{shop['id']}/endpoints")
    row = page.split("DELETE /never/called")[1].split("</tr>")[0]
    assert "startup" in row and "not called" in row
    link = html.unescape(re.search(r'href="([^"]*endpoints/detail[^"]*pay[^"]*)"', page).group(1))
    detail = _get(client, link)
    assert _stats(detail)["Requests"] == "4" and _stats(detail)["Error rate"] == "100.0 %"
    assert "card declined" in detail and _series_sum(_charts(detail)["requests"], "5xx") == 4
    assert client.get(f"/apps/{shop['id']}/endpoints/detail").status_code == 400


def test_consumers_page_groups_and_detail(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    # 24 h and 30 d read list and series in one pass, 7 d in two (hourly list, daily series).
    for period in ("24h", "7d", "30d"):
        page = _get(client, f"/apps/{shop['id']}/consumers", period=period)
        table = page.split('id="consumers-table"')[1]
        # Consumers read by name, the identifier on hover (and in its own column).
        alice = table.split('title="alice">Alice</a>')[1].split("</tr>")[0]
        assert "<code>alice</code>" in alice and "Partners" in alice, period
        assert ">64<" in alice and ">4<" in alice, period
        assert "<polyline" in alice
        assert table.index('title="alice">Alice</a>') < table.index('title="bob">Bob</a>')
        activity = _charts(page)["activity"]
        assert _series_sum(activity, "New") == 2 and _series_sum(activity, "Returning") == 0
    groups = _get(client, f"/apps/{shop['id']}/consumers/groups")
    row = groups.split(">Partners</a>")[1].split("</tr>")[0]
    assert re.findall(r">([\d,]+)</td>", row) == ["1", "64", "4"]
    in_group = _get(client, f"/apps/{shop['id']}/consumers", group="Partners")
    assert 'title="alice">Alice</a>' in in_group and 'title="bob">' not in in_group
    detail = _get(client, f"/apps/{shop['id']}/consumers/detail", consumer="bob")
    assert _stats(detail)["Requests"] == "36" and 'id="consumer-name">Bob<' in detail
    assert "edit-consumer" not in detail  # a viewer reads only
    assert (
        client.get(f"/apps/{shop['id']}/consumers/detail", params={"consumer": "nobody"}).status_code == 404
    )


def test_instances_page(web: Any, shop: dict[str, Any]) -> None:
    page = _get(web.signed_in("vic@example.com"), f"/apps/{shop['id']}/instances")
    row = page.split(f"{INSTANCE[:8]}</code>")[1].split("</tr>")[0]
    assert "python:flask" in row and "flask 3.1.3" in row and "1.2.3" in row
    assert "12.5 %" in row and "52.0 MB" in row and "UTC" in row


def test_instances_page_charts_cpu_memory_and_the_request_rate_on_one_time_axis(
    web: Any, shop: dict[str, Any]
) -> None:
    page = _get(web.signed_in("vic@example.com"), f"/apps/{shop['id']}/instances", period="1h")
    assert "prod: CPU and memory across instances" in page and "dev: CPU" not in page  # dev sent nothing
    charts = _charts(page)
    cpu, memory, rate = charts["cpu-1"], charts["memory-1"], charts["rate-1"]
    assert cpu["times"] == memory["times"] == rate["times"] and len(cpu["times"]) in (60, 61)  # whole minutes
    assert [s["label"] for s in cpu["series"]] == ["Min", "Avg", "Max"]
    for chart, value in ((cpu, 12.5), (memory, 52_000_000)):
        for series in chart["series"]:
            assert [v for v in series["values"] if v is not None] == [value]
    # The one sync's 100 requests fall in the bucket of its resources.
    at = cpu["series"][1]["values"].index(12.5)
    assert rate["series"][0]["values"][at] == 100 and _series_sum(rate, "Requests per minute") == 100


@pytest.mark.parametrize(
    ("params", "requests"),
    [
        ({}, "100"),
        ({"consumer": "bob"}, "36"),
        ({"group": "Partners"}, "64"),
        ({"method": "POST"}, "4"),
        ({"path": "/items/{id}"}, "6"),  # any framework's spelling
        ({"method": "GET", "path": "/items"}, "90"),
        ({"status": "4xx"}, "6"),
        ({"status": "500"}, "4"),
        ({"env": "prod"}, "100"),
        ({"env": "dev"}, "0"),
        ({"period": "1h"}, "100"),
        ({"period": "7d"}, "100"),
        ({"period": "30d"}, "100"),
        ({"period": "12mo"}, "100"),
        ({"period": "custom", "start": "2000-01-01T00:00:00Z", "end": "2000-01-02T00:00:00Z"}, "0"),
    ],
)
def test_filters_narrow_every_page(
    web: Any, shop: dict[str, Any], params: dict[str, str], requests: str
) -> None:
    client = web.signed_in("vic@example.com")
    assert _stats(_get(client, f"/apps/{shop['id']}/traffic", **params))["Requests"] == requests
    for page in ("errors", "performance", "data-transferred", "endpoints", "consumers", "instances"):
        _get(client, f"/apps/{shop['id']}/{page}", **params)
    _get(client, f"/apps/{shop['id']}/consumers/groups", **params)


def test_members_rename_and_group_consumers_and_clients_cannot_overwrite(
    web: Any, shop: dict[str, Any]
) -> None:
    app_id, path = shop["id"], f"/apps/{shop['id']}/consumers/edit"
    detail = f"/apps/{app_id}/consumers/detail?consumer=bob"
    mia = web.signed_in("mia@example.com")
    assert "edit-consumer" in _get(mia, detail)
    form = {"identifier": "bob", "name": "Robert", "group": "", "new_group": "VIP"}
    saved = web.post(mia, path + "?period=7d", form, page=detail)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/apps/{app_id}/consumers/detail?period=7d&consumer=bob"
    page = _get(mia, detail)
    assert 'id="consumer-name">Robert<' in page and ">VIP</a>" in page
    assert "<option selected>VIP</option>" in page  # the new group is now one to choose
    # The app keeps sending its own values: the ones set by a person stay.
    body = sync_body(INSTANCE, consumers=[{"identifier": "bob", "name": "Bob", "group": "Code"}])
    assert shop["client"].post(f"/v2/{shop['app'].client_id}/prod/sync", json=body).status_code == 202
    page = _get(mia, detail)
    assert 'id="consumer-name">Robert<' in page and ">VIP</a>" in page
    # Assign an existing group, clear the name.
    assert (
        web.post(mia, path, {"identifier": "bob", "name": "", "group": "Partners"}, page=detail).status_code
        == 303
    )
    page = _get(mia, detail)
    assert 'id="consumer-name">–<' in page and ">Partners</a>" in page
    # Too long, unknown consumer, viewer, another team, no CSRF token.
    assert web.post(mia, path, {"identifier": "bob", "name": "x" * 65}, page=detail).status_code == 400
    assert web.post(mia, path, {"identifier": "nobody", "name": "x"}, page=detail).status_code == 404
    vic, eve = web.signed_in("vic@example.com"), web.signed_in("eve@example.com")
    assert web.post(vic, path, {"identifier": "bob", "name": "Vic was here"}).status_code == 403
    assert web.post(eve, path, {"identifier": "bob", "name": "Eve was here"}).status_code == 404
    assert mia.post(path, data={"identifier": "bob", "name": "Forged"}).status_code == 403
    assert "was here" not in _get(mia, detail) and "Forged" not in _get(mia, detail)


def test_another_teams_user_gets_404_on_every_data_view(web: Any, shop: dict[str, Any]) -> None:
    eve = web.signed_in("eve@example.com")
    for view in ("endpoints/detail?path=/items", "consumers/detail?consumer=alice", "consumers/groups"):
        assert eve.get(f"/apps/{shop['id']}/{view}").status_code == 404, view
    assert "Shop" not in _get(eve, "/apps")
