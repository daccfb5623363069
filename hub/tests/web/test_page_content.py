"""What the data pages say, recomputed from the raw traffic sent through Hub v2 ingestion (both engines).

Status-code breakdowns (errors page, endpoint detail, read API), consumers by name with the identifier
on hover, series that start at a new app's first data, and one time format with no raw ISO as text.
"""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from tallyhub.storage import apps as app_store
from tallyhub.web import formatting

from tests.support import app_logs
from tests.support.syncs import request_entry, startup_body, sync_body

INSTANCE = str(uuid.uuid4())
HOUR = 3600
# (minutes ago, method, path, status, count, consumer): what the instrumented API saw.
TRAFFIC = [
    (120, "GET", "/items", 200, 50, "alice"),
    (120, "GET", "/items/<int:id>", 404, 7, "bob"),
    (120, "POST", "/items", 422, 3, "carol"),
    (30, "POST", "/items", 201, 5, "bob"),
    (30, "GET", "/items", 404, 2, "carol"),
    (30, "POST", "/pay", 500, 4, "alice"),
    (30, "GET", "/items", 503, 2, None),
    (30, "GET", "/items", 200, 9, "bob"),
]
NAMES = [
    {"identifier": "alice", "name": "Alice Ltd", "group": "Partners"},
    {"identifier": "bob", "name": "Bob & Co", "group": None},
]  # carol has no name: her identifier stands in
ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@pytest.fixture
def shop(web: Any) -> dict[str, Any]:
    """Acme's Shop (admin ann) with TRAFFIC synced in two syncs, 2 hours and 30 minutes ago."""
    web.user("ann@example.com", "Acme", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    client = web.client()
    paths = [("GET", "/items"), ("POST", "/items"), ("GET", "/items/<int:id>"), ("POST", "/pay")]
    sent = client.post(f"/v2/{app.client_id}/prod/startup", json=startup_body(INSTANCE, paths))
    assert sent.status_code == 202, sent.text
    now = time.time()
    for ago in sorted({t[0] for t in TRAFFIC}, reverse=True):
        requests = [request_entry(m, p, s, n, 20, c) for a, m, p, s, n, c in TRAFFIC if a == ago]
        errors = [
            {
                "consumer": c,
                "method": m,
                "path": p,
                "type": "shop.Declined",
                "msg": "card declined",
                "traceback": "Traceback (most recent call last):\nshop.Declined: card declined",
                "sentry_event_id": None,
                "error_count": n,
            }
            for a, m, p, s, n, c in TRAFFIC
            if a == ago and s == 500
        ]
        body = sync_body(INSTANCE, now - ago * 60, requests=requests, server_errors=errors, consumers=NAMES)
        sent = client.post(f"/v2/{app.client_id}/prod/sync", json=body)
        assert sent.status_code == 202, sent.text
    signed_in = web.signed_in("ann@example.com")
    return {"id": app.id, "client_id": app.client_id, "synced_at": now, "client": signed_in}


def _get(client: Any, url: str, **params: str) -> str:
    response = client.get(url, params=params) if params else client.get(url)
    assert response.status_code == 200, (url, response.text[:300])
    return str(response.text)


def _charts(page: str) -> dict[str, dict[str, Any]]:
    found = re.findall(r'id="chart-([\w-]+)" data-chart="([^"]*)"', page)
    return {name: json.loads(html.unescape(data)) for name, data in found}


def _status_rows(page: str, table_id: str) -> dict[int, int]:
    table = page.split(f'id="{table_id}"')[1].split("</table>")[0]
    row = r'<tr data-status="(\d+)"><td><code>\d+</code></td><td class="num">([\d,]+)</td>'
    rows = re.findall(row, table)
    return {int(code): int(count.replace(",", "")) for code, count in rows}


def _expected(keep: Any) -> dict[int, int]:
    counts: Counter[int] = Counter()
    for _, method, path, status, n, consumer in TRAFFIC:
        if keep(method, path, status, consumer):
            counts[status] += n
    return dict(sorted(counts.items()))


def test_errors_page_breaks_errors_down_by_status_code(shop: dict[str, Any]) -> None:
    page = _get(shop["client"], f"/apps/{shop['id']}/errors")
    expected = _expected(lambda m, p, status, c: status >= 400)
    assert expected == {404: 9, 422: 3, 500: 4, 503: 2}
    assert _status_rows(page, "error-status-codes") == expected
    chart = _charts(page)["status-codes"]
    assert chart["kind"] == "categories" and chart["labels"] == [str(code) for code in expected]
    by_class = {s["label"]: s["values"] for s in chart["series"]}
    assert by_class == {"4xx": [9, 3, None, None], "5xx": [None, None, 4, 2]}  # bars coloured by class
    share = page.split('data-status="404"')[1].split("</tr>")[0]
    assert "50.0 %" in share  # 9 of the 18 error responses


def test_status_codes_follow_the_filters(shop: dict[str, Any]) -> None:
    page = _get(shop["client"], f"/apps/{shop['id']}/errors", consumer="carol")
    assert _status_rows(page, "error-status-codes") == _expected(lambda m, p, s, c: s >= 400 and c == "carol")


def test_endpoint_detail_has_status_codes_and_top_consumers(shop: dict[str, Any]) -> None:
    page = _get(shop["client"], f"/apps/{shop['id']}/endpoints/detail", method="GET", path="/items")
    assert _status_rows(page, "endpoint-status-codes") == _expected(
        lambda m, p, s, c: (m, p) == ("GET", "/items")
    )
    assert _charts(page)["status-codes"]["labels"] == ["200", "404", "503"]
    table = page.split('id="top-consumers"')[1].split("</table>")[0]
    per_consumer: Counter[str] = Counter()
    for _, method, path, _, n, consumer in TRAFFIC:
        if (method, path) == ("GET", "/items") and consumer:
            per_consumer[consumer] += n
    shown = re.findall(r'title="(\w+)">([^<]+)</a></td><td class="num">(\d+)</td>', table)
    names = {"alice": "Alice Ltd", "bob": "Bob &amp; Co", "carol": "carol"}
    assert shown == [(c, names[c], str(n)) for c, n in per_consumer.most_common()]


def test_consumers_show_by_name_with_the_identifier_on_hover(shop: dict[str, Any]) -> None:
    page = _get(shop["client"], f"/apps/{shop['id']}/errors")
    errors = page.split('<table class="errors">')[1].split("</table>")[0]
    assert 'title="alice">Alice Ltd</a>' in errors
    consumers = _get(shop["client"], f"/apps/{shop['id']}/consumers")
    for identifier, name in (("alice", "Alice Ltd"), ("bob", "Bob &amp; Co"), ("carol", "carol")):
        assert f'title="{identifier}">{name}</a>' in consumers
    assert ">alice</a>" not in consumers  # never the bare identifier where there is a name


def test_the_read_api_counts_errors_per_status_code(shop: dict[str, Any], web: Any) -> None:
    from tallyhub.accounts import tokens

    token = tokens.create_token(web.db, "reader", read_only=True)
    bearer = {"Authorization": f"Bearer {token}"}
    found = shop["client"].get(f"/api/v1/apps/{shop['id']}/errors", headers=bearer)
    assert found.status_code == 200, found.text
    expected = _expected(lambda m, p, status, c: status >= 400)
    assert [(s["status_code"], s["count"]) for s in found.json()["status_codes"]] == list(expected.items())
    [declined] = found.json()["server_errors"]
    assert declined["consumers"] == ["alice"] and declined["consumer_names"] == {"alice": "Alice Ltd"}


def test_a_new_apps_series_start_at_its_first_data(shop: dict[str, Any]) -> None:
    client = shop["client"]
    first = int((shop["synced_at"] - 120 * 60) // HOUR * HOUR)
    for slug, name in (("traffic", "requests"), ("errors", "errors"), ("performance", "percentiles")):
        chart = _charts(_get(client, f"/apps/{shop['id']}/{slug}", period="24h"))[name]
        assert chart["times"][0] == first, slug  # not 22 hours of zeros before the app existed
        assert len(chart["times"]) in (3, 4), slug  # the hours from the first data to now
    # Where the app is older than the range, the range is charted whole (minutes of the last hour).
    chart = _charts(_get(client, f"/apps/{shop['id']}/traffic", period="1h"))["requests"]
    assert len(chart["times"]) in (60, 61)


class _Text(HTMLParser):
    """A page's text content: what a reader sees, without attributes, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


def test_no_page_shows_a_raw_iso_time(shop: dict[str, Any], web: Any) -> None:
    from tallyhub.accounts import tokens
    from tallyhub.web.pages import APP_NAV

    tokens.create_token(web.db, "reader", read_only=True)  # the team page lists it, with its time
    client, app_id = shop["client"], shop["id"]
    urls = [f"/apps/{app_id}/{link.slug}" for link in APP_NAV]
    urls += [
        "/apps",
        "/account",
        f"/apps/{app_id}/alerts/history",
        f"/apps/{app_id}/consumers/groups",
        f"/apps/{app_id}/consumers/detail?consumer=alice",
        f"/apps/{app_id}/endpoints/detail?method=GET&path=/items",
    ]
    urls += [f"/teams/{web.team_id('Acme')}", f"/teams/{web.team_id('Acme')}/channels"]
    times_shown = 0
    for url in urls:
        page = _get(client, url)
        text = _text(page)
        assert not ISO.search(text), (url, ISO.search(text))
        times_shown += len(re.findall(r"<time datetime=\"[^\"]+\" title=\"[^\"]+\">", page))
    assert times_shown >= 5  # the pages do show times, in the one format
    # The pages across logged requests, with records to show (each with its time).
    app_logs.store(
        web.db, app_id, "prod", [app_logs.request(i, time.time() - 600) for i in range(3)], time.time()
    )
    for slug in ("app-logs", "traces", "request-logs"):
        page = _get(client, f"/apps/{app_id}/{slug}")
        assert "order 1" in page or "db.query" in page or "/pay?order=1" in page, slug
        assert not ISO.search(_text(page)), (slug, ISO.search(_text(page)))
    assert len(re.findall(r"<time datetime=", _get(client, f"/apps/{app_id}/app-logs"))) == 6
    listed = _get(client, f"/apps/{app_id}/request-logs")
    detail = re.search(rf'href="(/apps/{app_id}/request-logs/\d+)[^"]*"', listed)
    assert detail is not None
    page = _get(client, detail.group(1))
    assert "<time datetime=" in page and not ISO.search(_text(page)), ISO.search(_text(page))


def test_one_time_format_with_relative_time_on_hover() -> None:
    now = datetime(2026, 12, 2, 6, 53, tzinfo=UTC).timestamp()
    shown = formatting.when("2026-12-02T03:53:00Z", now=now)
    assert shown == '<time datetime="2026-12-02T03:53:00Z" title="3 hours ago">2 Dec 03:53 UTC</time>'
    assert formatting.when(now - 90, now=now).endswith('title="1 minute ago">2 Dec 06:51 UTC</time>')
    assert 'title="in 2 days"' in formatting.when(now + 2 * 86400 + 5, now=now)
    assert 'title="just now"' in formatting.when(now, now=now)
    assert ">5 Jan 2025 00:00 UTC<" in formatting.when("2025-01-05T00:00:00Z", now=now)  # another year
    assert formatting.when(None) == "–" and formatting.when("") == "–"
