"""The application-logs and traces pages for every role (both engines): rows, filters, paging, links to
the requests, empty states, bad filters."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest
from tallyhub.storage import apps as app_store
from tallyhub.storage import span_bins

from tests.support import app_logs as data


@pytest.fixture
def shop(web: Any) -> dict[str, Any]:
    """Acme (admin ann, member mia, viewer vic) owns Shop: N requests in prod with 2 log records and
    spans each, one in dev, and an OTLP request with a child span and record; eve is in Other."""
    for email, team, role in (
        ("ann@example.com", "Acme", "admin"),
        ("mia@example.com", "Acme", "member"),
        ("vic@example.com", "Acme", "viewer"),
        ("eve@example.com", "Other", "admin"),
    ):
        web.user(email, team, role)
    app = app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))
    now = time.time()
    t0 = now - 3600
    prod = [data.request(i, t0) for i in range(data.N)]
    data.store(web.db, app.id, "prod", prod, now)
    dev = [data.request(0, t0 + 5, env="dev")]
    data.store(web.db, app.id, "dev", dev, now)
    server, items = data.otlp_request(t0 + 1000.5)
    data.store(web.db, app.id, "prod", [server], now, items)
    records = data.expected_records(prod, "prod") + data.expected_records(dev, "dev")
    return {"app": app, "records": records, "prod": prod, "dev": dev, "server": server}


def _rows(page: str) -> list[str]:
    table = page.split('id="app-logs"')[1].split("</table>")[0] if 'id="app-logs"' in page else ""
    return re.findall(r'<td class="message">([^<]*)</td>', table)


def _all_messages(client: Any, url: str, **params: str) -> list[str]:
    """Every message of the list, following the Older links."""
    shown: list[str] = []
    page = client.get(url, params=params)
    while True:
        assert page.status_code == 200, page.text
        shown += _rows(page.text)
        older = re.search(r'id="older" href="([^"]+)"', page.text)
        if older is None:
            return shown
        page = client.get(html.unescape(older.group(1)))


def _newest_first(records: list[data.Record]) -> list[str]:
    return [r.message for r in sorted(records, key=lambda r: r.timestamp, reverse=True)]


@pytest.mark.parametrize("email", ["ann@example.com", "mia@example.com", "vic@example.com"])
def test_every_role_of_the_team_sees_both_pages(web: Any, shop: dict[str, Any], email: str) -> None:
    client = web.signed_in(email)
    app_id = shop["app"].id
    page = client.get(f"/apps/{app_id}/app-logs")
    assert page.status_code == 200, page.text
    assert len(_rows(page.text)) == 50 and 'id="older"' in page.text
    assert (
        f'href="/apps/{app_id}/app-logs' in page.text and f'href="/apps/{app_id}/traces' in page.text
    )  # nav
    traces = client.get(f"/apps/{app_id}/traces")
    assert traces.status_code == 200 and "db.query" in traces.text


def test_other_teams_and_signed_out_visitors_see_nothing(web: Any, shop: dict[str, Any]) -> None:
    app_id = shop["app"].id
    eve = web.signed_in("eve@example.com")
    for path in ("/app-logs", "/traces"):
        assert eve.get(f"/apps/{app_id}{path}").status_code == 404, path
        assert web.client().get(f"/apps/{app_id}{path}").status_code == 303, path


def test_every_record_newest_first_across_envs_and_pages(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    app_id = shop["app"].id
    shown = _all_messages(client, f"/apps/{app_id}/app-logs")
    otlp = ["from otlp", "orphan record"]  # 1000.502 and .503 s after t0
    expected = _newest_first(shop["records"])
    assert sorted(shown) == sorted(expected + otlp) and len(shown) == 2 * data.N + 2 + 2
    assert [m for m in shown if m not in otlp] == expected
    prod_only = _all_messages(client, f"/apps/{app_id}/app-logs", env="dev")
    assert prod_only == _newest_first([r for r in shop["records"] if r.env == "dev"])


def test_filters_by_level_logger_and_message(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    url = f"/apps/{shop['app'].id}/app-logs"
    records = [r for r in shop["records"]]
    warnings = _all_messages(client, url, level="Warning")  # any case
    assert warnings == _newest_first([r for r in records if r.level == "WARNING"])
    page = client.get(url, params={"level": "warning", "logger": "shop.db"}).text
    assert 'name="level" value="WARNING"' in page and 'value="shop.db"' in page  # the form keeps them
    assert _all_messages(client, url, level="WARNING", logger="shop.db") == _newest_first(
        [r for r in records if r.level == "WARNING" and r.logger == "shop.db"]
    )
    assert _all_messages(client, url, message="ORDER 1 STEP") == _newest_first(
        [r for r in records if r.message.startswith("order 1 ")]
    )
    assert _all_messages(client, url, message="50%") == []  # % is a character, not a wildcard
    older = re.search(r'id="older" href="([^"]+)"', client.get(url, params={"message": "order"}).text)
    assert older is not None and "message=order" in html.unescape(older.group(1))  # paging keeps it
    empty = client.get(url, params={"message": "no such text"}).text
    assert "No application logs match these filters in this range." in empty
    for bad in ({"level": "x" * 17}, {"logger": "a\x00b"}, {"message": "m" * 201}, {"before": "0"}):
        response = client.get(url, params=bad)
        assert response.status_code == 400 and next(iter(bad)) in response.text, bad


def test_each_record_links_to_its_request(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    app_id = shop["app"].id
    page = html.unescape(client.get(f"/apps/{app_id}/app-logs", params={"message": "order 7 step 1"}).text)
    link = re.search(rf'href="(/apps/{app_id}/request-logs/(\d+))[?"]', page)
    assert link is not None
    detail = client.get(link.group(1)).text
    assert "order=7" in detail and "order 7 step 1" in detail
    otlp = html.unescape(client.get(f"/apps/{app_id}/app-logs", params={"logger": "otlp.logger"}).text)
    assert re.findall(r"<tr class=\"level-(\w+)\">", otlp) == ["error", "info"]
    assert otlp.count(f'href="/apps/{app_id}/request-logs/') == 1  # by trace id; the orphan has none
    assert "GET https://shop.test/otlp" in otlp and "not logged" in otlp


def test_traces_group_spans_by_name_slowest_first(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    app_id = shop["app"].id
    page = html.unescape(client.get(f"/apps/{app_id}/traces").text)
    table = page.split('id="span-names"')[1].split("</table>")[0]
    rows = re.findall(r"<tr>\s*<td><code>([^<]+)</code></td>\s*<td class=\"num\">([\d,]+)</td>", table)
    # http.call 50 ms, db.query 1..30 ms (p95 29 ms), otlp.child 7 ms, render 0.5 ms; dev has one of each
    assert rows == [("http.call", "4"), ("db.query", str(data.N + 1)), ("otlp.child", "1"), ("render", "31")]
    db_row = table.split("<code>db.query</code>")[1].split("</tr>")[0]
    p50, p95 = re.findall(r"≈ ([\d.]+) ms", db_row)
    assert abs(float(p50) - 16) / 16 < 0.07 and abs(float(p95) - 29) / 29 < 0.07
    examples = re.findall(rf'href="/apps/{app_id}/request-logs/(\d+)[?"]', db_row)
    # The slow ones: db.query in the p95's bin or above (29 ms is the p95 of 31 spans of 1 to 30 ms).
    slow = [i for i in range(data.N) if span_bins.bin_of(i + 1) >= span_bins.bin_of(29)]
    assert 2 <= len(examples) == min(len(slow), 3)
    shown = {re.search(r"order=(\d+)", client.get(f"/apps/{app_id}/request-logs/{e}").text) for e in examples}
    assert {int(m.group(1)) for m in shown if m} == set(sorted(slow)[-3:])
    otlp_row = table.split("<code>otlp.child</code>")[1].split("</tr>")[0]
    assert len(re.findall(r"request-logs/\d+", otlp_row)) == 1  # joined by trace id
    dev = html.unescape(client.get(f"/apps/{app_id}/traces", params={"env": "dev"}).text)
    assert "otlp.child" not in dev and "http.call" in dev


def test_empty_states(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    quiet = app_store.create_app(web.db, "Quiet", ("prod",), team_id=web.team_id("Acme"))
    assert "No traced requests in this range." in client.get(f"/apps/{quiet.id}/traces").text
    assert "No application logs match" in client.get(f"/apps/{quiet.id}/app-logs").text
    past = {"period": "custom", "start": "2020-01-01T00:00", "end": "2020-01-02T00:00"}
    assert (
        "No traced requests in this range." in client.get(f"/apps/{shop['app'].id}/traces", params=past).text
    )
