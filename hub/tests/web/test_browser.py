"""The dashboard in a real browser: Playwright driving Debian's chromium against `tallyhub serve`.

Screenshots of each page go to test-output/dashboard/.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from tallyhub.storage.database import Database

from tests.support.browser import chromium, green_bar_runs, sign_in
from tests.support.hub_process import HubProcess
from tests.support.syncs import request_entry, startup_body, sync_body

pytestmark = pytest.mark.e2e

INSTANCE = str(uuid.uuid4())
SHOTS = Path(__file__).resolve().parents[3] / "test-output" / "dashboard"
FIRST_LOAD_LIMIT = 300_000  # bytes over the wire for a page with everything it loads


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def _first_sync(hub_url: str, client_id: str) -> None:
    """Send a real Hub v2 sync (JSON, as the clients send it) with one request to the hub."""
    body = {
        "instance_uuid": str(uuid.uuid4()),
        "message_uuid": str(uuid.uuid4()),
        "timestamp": time.time(),
        "requests": [
            {
                "consumer": None,
                "method": "GET",
                "path": "/items/<int:item_id>",
                "status_code": 200,
                "request_count": 1,
                "request_size_sum": 0,
                "response_size_sum": 120,
                "response_times": {"10": 1},
                "request_sizes": {},
                "response_sizes": {"0": 1},
            }
        ],
    }
    response = httpx.post(
        f"{hub_url}/v2/{client_id}/dev/sync",
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 202, response.text


def _post(hub_url: str, client_id: str, env: str, kind: str, body: dict[str, Any]) -> None:
    """Send a Hub v2 startup or sync as the clients do (JSON over HTTP)."""
    response = httpx.post(f"{hub_url}/v2/{client_id}/{env}/{kind}", json=body, timeout=10)
    assert response.status_code == 202, response.text


def test_sign_in_create_app_and_see_first_data(browser, hub: HubProcess, database_url: str) -> None:
    engine = "sqlite" if database_url.startswith("sqlite") else "postgres"
    SHOTS.mkdir(parents=True, exist_ok=True)
    found = re.search(r"Create the first admin at: (\S+)", hub.log_path.read_text())
    assert found, hub.log_path.read_text()
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))

    def shot(name: str) -> None:
        page.screenshot(path=str(SHOTS / f"{engine}-{name}.png"), full_page=True)

    # The one-time setup link creates the first admin and signs them in.
    page.goto(found.group(1))
    shot("setup-admin")
    page.fill('input[name="email"]', "root@example.com")
    page.fill('input[name="password"]', "a long password")
    page.fill('input[name="password2"]', "a long password")
    page.fill('input[name="team"]', "Ops")
    page.click('main button[type="submit"]')
    page.wait_for_url(f"{hub.url}/apps")
    assert "Ops" in page.inner_text("main")

    # Sign out, fail once, sign in.
    page.click("text=Sign out")
    page.wait_for_url(f"{hub.url}/login")
    page.fill('input[name="email"]', "root@example.com")
    page.fill('input[name="password"]', "not the password")
    page.click('main button[type="submit"]')
    assert "Wrong e-mail or password." in page.inner_text("main")
    shot("login")
    page.fill('input[name="password"]', "a long password")
    page.click('main button[type="submit"]')
    page.wait_for_url(f"{hub.url}/apps")
    shot("apps-empty")

    # Create an app; the setup page shows the Flask snippet with this hub's URL.
    page.click("text=Create app")
    page.fill('input[name="name"]', "Shop")
    page.select_option('select[name="framework"]', "flask")
    page.fill('input[name="envs"]', "prod, dev")
    shot("create-app")
    page.click('main button[type="submit"]')
    page.wait_for_url(re.compile(r".*/apps/\d+/setup$"))
    client_id = page.inner_text("#client-id")
    assert page.inner_text("#snippet") == (
        "from flask import Flask\n"
        "from apitally.flask import ApitallyMiddleware\n\n"
        "app = Flask(__name__)\n"
        "app.wsgi_app = ApitallyMiddleware(\n"
        "    app,\n"
        f'    client_id="{client_id}",\n'
        '    env="dev",  # or "prod" etc.\n'
        ")"
    )
    assert page.inner_text("#hub-env") == f'export APITALLY_HUB_BASE_URL="{hub.url}"'
    status = page.locator("#data-status")
    assert "Waiting for first data" in status.inner_text()
    shot("setup-waiting")

    # The first sync turns the status into "receiving data" without a reload.
    page.evaluate("window.__same_document = true")
    _first_sync(hub.url, client_id)
    page.wait_for_selector("#data-status.receiving", timeout=15_000)
    assert status.inner_text() == "Receiving data: see the traffic"
    assert status.locator("a").get_attribute("href").endswith("/traffic")
    assert page.evaluate("window.__same_document") is True
    shot("setup-receiving")

    # Filters chosen on one page carry over through the navigation to every other page.
    app_path = page.url.split("/setup")[0].removeprefix(hub.url)
    page.goto(f"{hub.url}{app_path}/traffic")
    page.click(".presets label:has-text('7 d')")  # a preset applies at once
    page.wait_for_url(re.compile(r".*period=7d.*"))
    page.select_option('select[name="env"]', "prod")
    page.fill('input[name="status"]', "5xx")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r".*status=5xx.*"))
    query = page.url.split("?", 1)[1]
    assert "env=prod" in query and "period=7d" in query and "consumer=" not in query
    for label, slug in [
        ("Errors", "errors"),
        ("Performance", "performance"),
        ("Data transferred", "data-transferred"),
        ("Endpoints", "endpoints"),
        ("Consumers", "consumers"),
        ("Instances", "instances"),
        ("Settings", "settings"),
        ("Traffic", "traffic"),
    ]:
        page.click(f".appnav >> text='{label}'")
        page.wait_for_url(f"{hub.url}{app_path}/{slug}?{query}")
        shot(slug)

    # Custom range: "Custom" shows the from/to fields.
    assert not page.is_visible('input[name="start"]')
    page.click(".presets label:has-text('Custom')")
    page.fill('input[name="start"]', "2026-11-01T00:00")
    page.fill('input[name="end"]', "2026-11-02T00:00")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r".*period=custom&start=2026-11-01T00%3A00&end=2026-11-02T00%3A00.*"))
    assert page.is_checked('input[name="period"][value="custom"]')
    assert "period=custom&start=2026-11-01T00%3A00%3A00Z&end=2026-11-02T00%3A00%3A00Z" in page.get_attribute(
        ".appnav a:text('Errors')", "href"
    )

    # Overview and the team page.
    page.click(".brand")
    page.wait_for_selector("text=Shop")
    shot("apps")
    page.click("text=Team Ops")
    page.fill('form[action$="/tokens"] input[name="name"]', "grafana")
    page.click('form[action$="/tokens"] button')
    assert page.inner_text("#new-token").startswith("th_")
    shot("team")

    # Delete the app with typed confirmation (a wrong name is refused by the browser).
    page.goto(f"{hub.url}{app_path}/settings")
    page.fill('input[name="confirm"]', "shop")
    page.click("button:text('Delete app')")
    assert page.url.endswith("/settings")
    page.fill('input[name="confirm"]', "Shop")
    page.click("button:text('Delete app')")
    page.wait_for_url(f"{hub.url}/apps")
    assert "Shop" not in page.inner_text("main")

    assert problems == []
    context.close()


def test_first_load_is_small_and_compressed(browser, hub: HubProcess) -> None:
    """Every page's first load is gzipped and small; how fast pages answer is BENCH=dashboard_pages'."""
    from tallyhub.accounts import teams, users

    db = Database(hub.database_url)
    try:
        with db.write() as conn:
            user = users.create_user(conn, "root@example.com", users.hash_password("a long password"))
            teams.set_role(conn, user.id, teams.ensure_team(conn, teams.DEFAULT_TEAM).id, "admin")
    finally:
        db.dispose()
    hub.create_app("Shop")
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    sign_in(page, hub.url, "root@example.com", "a long password")
    pages = ["traffic", "errors", "performance", "data-transferred", "endpoints", "consumers", "instances"]
    for path in [
        "/apps",
        *(f"/apps/1/{p}?period=7d" for p in pages),
        "/apps/1/setup",
        "/apps/1/settings",
        "/teams/1",
    ]:
        response = page.goto(f"{hub.url}{path}", wait_until="load")
        assert response is not None and response.status == 200, path
        assert response.headers.get("content-encoding") == "gzip", path
        scripts = page.evaluate(
            """() => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.js'))
                       .map((e) => [e.name, e.encodedBodySize, e.decodedBodySize])"""
        )
        assert all(encoded < decoded for _, encoded, decoded in scripts if decoded > 1000), scripts
        total = page.evaluate(
            """() => performance.getEntriesByType('navigation')
                       .concat(performance.getEntriesByType('resource'))
                       .reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0)"""
        )
        assert 0 < total < FIRST_LOAD_LIMIT, (path, total)
    context.close()


def test_chart_helper_has_tooltips_and_drag_to_zoom(browser, hub: HubProcess) -> None:
    """charts.js, which the data pages draw with: uPlot loads offline, tooltips show, a drag zooms."""
    from tallyhub.accounts import teams, users

    db = Database(hub.database_url)
    try:
        with db.write() as conn:
            user = users.create_user(conn, "root@example.com", users.hash_password("a long password"))
            teams.set_role(conn, user.id, teams.ensure_team(conn, teams.DEFAULT_TEAM).id, "admin")
    finally:
        db.dispose()
    created = hub.create_app("Shop")
    app_id = created["id"]
    now = time.time()
    for hours_ago in (60, 30, 2):  # traffic spread over the 7-day range
        body = sync_body(
            INSTANCE, now - hours_ago * 3600, requests=[request_entry("GET", "/items", 200, 5, 30)]
        )
        if hours_ago < 25:
            _post(hub.url, created["client_id"], "prod", "sync", body)
            continue
        # /v2 refuses syncs dated over 25 h ago: older history goes in through the writer itself.
        from tallyhub.ingest.v2 import translate
        from tallyhub.ingest.v2.models import Sync
        from tallyhub.ingest.writer import Writer

        db = Database(hub.database_url)
        try:
            Writer(db).store(app_id, "prod", translate.sync(Sync.model_validate(body)))
        finally:
            db.dispose()
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    sign_in(page, hub.url, "root@example.com", "a long password")
    page.goto(f"{hub.url}/apps/{app_id}/traffic?env=prod&period=7d")
    page.wait_for_selector("#chart-requests[data-drawn] .u-over")
    box = page.locator("#chart-requests .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = page.locator("#chart-requests .chart-tooltip")
    assert tip.is_visible() and "2xx/3xx:" in tip.inner_text() and "UTC" in tip.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "chart-tooltip.png"))
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_url(re.compile(r".*period=custom.*"))
    url = page.url
    zoomed = [re.search(rf"{name}=([^&]+)", url) for name in ("start", "end")]
    assert "env=prod" in url and all(zoomed)
    start, end = (datetime.fromisoformat(unquote(m.group(1))).timestamp() for m in zoomed if m)
    assert now - 7 * 86400 < start < end < now + 3600  # a part of the 7 days that were shown
    assert page.is_checked('input[name="period"][value="custom"]')
    # Apdex exists only in the three hours with traffic, each between empty hours: drawn as points.
    page.goto(f"{hub.url}/apps/{app_id}/performance?env=prod&period=7d")
    page.wait_for_selector("#chart-apdex[data-drawn] canvas")
    green = page.evaluate(
        """() => {
            const canvas = document.querySelector('#chart-apdex canvas');
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            const near = (i, value) => Math.abs(data[i] - value) < 30;
            let count = 0;  // pixels of the series colour #16a34a
            for (let i = 0; i < data.length; i += 4) {
                if (near(i, 22) && near(i + 1, 163) && near(i + 2, 74)) count++;
            }
            return count;
        }"""
    )
    assert green > 20, green
    assert problems == []
    context.close()


def test_data_pages_filter_and_edit_consumers(browser, hub: HubProcess, database_url: str) -> None:
    """Every data page draws its charts from real syncs; filter by consumer; rename and group one."""
    from tallyhub.accounts import teams, users

    engine = "sqlite" if database_url.startswith("sqlite") else "postgres"
    db = Database(hub.database_url)
    try:
        with db.write() as conn:
            user = users.create_user(conn, "root@example.com", users.hash_password("a long password"))
            teams.set_role(conn, user.id, teams.ensure_team(conn, teams.DEFAULT_TEAM).id, "member")
    finally:
        db.dispose()
    created = hub.create_app("Shop", "prod")
    app_id, client_id = created["id"], created["client_id"]
    paths = [("GET", "/items"), ("POST", "/pay"), ("GET", "/reports/<name>"), ("DELETE", "/items/<int:id>")]
    _post(hub.url, client_id, "prod", "startup", startup_body(INSTANCE, paths))
    now = time.time()
    for minutes_ago in (50, 35, 20, 5):
        body = sync_body(
            INSTANCE,
            now - minutes_ago * 60,
            requests=[
                request_entry("GET", "/items", 200, 40, 20, "acme", response_size=3000),
                request_entry("GET", "/items", 200, 15, 30, "globex", response_size=3000),
                request_entry("GET", "/reports/<name>", 200, 3, 900, "globex", response_size=90_000),
                request_entry("POST", "/pay", 500, 2, 150, "acme", request_size=400),
                request_entry("GET", "/items", 404, 4, 10),
            ],
            server_errors=[
                {
                    "consumer": "acme",
                    "method": "POST",
                    "path": "/pay",
                    "type": "shop.PaymentDeclinedError",
                    "msg": "card declined",
                    "traceback": "Traceback (most recent call last):\nPaymentDeclinedError: card declined",
                    "sentry_event_id": None,
                    "error_count": 2,
                }
            ],
            consumers=[{"identifier": "acme", "name": "Acme", "group": "Partners"}],
            resources={"cpu_percent": 7.5, "memory_rss": 61_000_000},
        )
        _post(hub.url, client_id, "prod", "sync", body)

    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, hub.url, "root@example.com", "a long password")

    def stat(label: str) -> str:
        return str(page.locator(f".stat:has(.label:text-is('{label}')) .value").inner_text())

    def charts_drawn() -> int:
        charts = page.locator("[data-chart]")
        count = charts.count()
        for i in range(count):
            chart = charts.nth(i)
            chart.locator("canvas").wait_for()
            assert chart.get_attribute("data-drawn") == "true"
            data = json.loads(chart.get_attribute("data-chart") or "{}")
            assert any(v for s in data["series"] for v in s["values"]), "a chart without data"
        return int(count)

    page.goto(f"{hub.url}/apps?period=1h")
    assert page.locator("tr:has-text('Shop') svg.sparkline polyline").count() == 1
    page.screenshot(path=str(SHOTS / f"{engine}-overview.png"), full_page=True)
    expected_charts = {
        "traffic": 3,
        "errors": 2,  # errors over time, and the status-code breakdown
        "performance": 3,
        "data-transferred": 3,
        "endpoints": 0,
        "consumers": 1,
        "instances": 3,  # CPU, memory and the request rate, from the syncs' resources
    }
    for slug, charts in expected_charts.items():
        page.goto(f"{hub.url}/apps/{app_id}/{slug}?period=1h")
        assert charts_drawn() == charts, slug
        page.screenshot(path=str(SHOTS / f"{engine}-data-{slug}.png"), full_page=True)
    page.goto(f"{hub.url}/apps/{app_id}/traffic?period=1h")
    assert stat("Requests") == "256"
    _assert_charts_read_as_charts(page, hub.url, app_id)

    # Sort and search the endpoints table.
    table = page.locator("#endpoints-table")
    rows = table.locator("tbody tr td:first-child").all_inner_texts()
    assert rows == ["GET /items", "GET /reports/<name>", "POST /pay"]  # busiest first
    table.locator("th:text('p95')").click()
    assert "GET /reports/<name>" in table.locator("tbody tr").first.inner_text()
    page.fill("input[data-search='endpoints-table']", "pay")
    assert table.locator("tbody tr:visible").count() == 1

    # Filter by consumer: the figures narrow, and the filter carries to the next page.
    page.fill('input[name="consumer"]', "globex")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r".*consumer=globex.*"))
    assert stat("Requests") == "72"  # 4 syncs x (15 + 3)
    page.click(".appnav >> text='Performance'")
    page.wait_for_url(re.compile(r".*/performance\?.*consumer=globex.*"))
    assert stat("p99") == "≈ 909 ms"  # rank 71.3 of 72 is 11.3/12 into the 900 ms bin
    page.screenshot(path=str(SHOTS / f"{engine}-filtered-by-consumer.png"), full_page=True)

    # Rename a consumer and put it in a new group, from its page.
    page.goto(f"{hub.url}/apps/{app_id}/consumers?period=1h")
    page.click("#consumers-table >> text='globex'")
    page.wait_for_url(re.compile(r".*/consumers/detail\?.*consumer=globex.*"))
    charts_drawn()
    page.fill(".edit-consumer input[name='name']", "Globex Corporation")
    page.fill(".edit-consumer input[name='new_group']", "Enterprise")
    page.click(".edit-consumer button[type=submit]")
    page.wait_for_url(re.compile(r".*/consumers/detail\?.*consumer=globex.*"))
    assert page.inner_text("#consumer-name") == "Globex Corporation"
    assert page.inner_text("#consumer-group") == "Enterprise"
    page.screenshot(path=str(SHOTS / f"{engine}-consumer-detail.png"), full_page=True)
    # Assign an existing group to the other consumer with the group picker.
    page.goto(f"{hub.url}/apps/{app_id}/consumers/detail?period=1h&consumer=acme")
    page.select_option(".edit-consumer select[name='group']", "Enterprise")
    page.click(".edit-consumer button[type=submit]")
    page.wait_for_url(re.compile(r".*consumer=acme.*"))
    assert page.inner_text("#consumer-group") == "Enterprise"
    page.goto(f"{hub.url}/apps/{app_id}/consumers/groups?period=1h")
    assert "Enterprise" in page.inner_text("#groups-table") and "Partners" not in page.inner_text("main")
    page.screenshot(path=str(SHOTS / f"{engine}-groups.png"), full_page=True)

    assert problems == []
    context.close()


def _assert_charts_read_as_charts(page: Any, hub_url: str, app_id: int) -> None:
    """Counts are stacked bars, every axis has its unit and readable ticks (what the canvas draws)."""

    def ticks(name: str) -> list[str]:
        return list(json.loads(page.get_attribute(f"#chart-{name}", "data-y-ticks") or "[]"))

    # 4 syncs of 64 requests, 58 of them 2xx: at mid-height the chart crosses 4 filled green bars
    # (a line chart would cross each spike twice, with strokes 2 px wide).
    runs = green_bar_runs(page, "#chart-requests")
    assert len(runs) == 4 and min(runs) >= 4, runs
    counts = ticks("requests")
    assert counts and all(re.fullmatch(r"\d+(\.\d)?K?", t) for t in counts), counts
    assert all(float(t.rstrip("K")) == int(float(t.rstrip("K"))) for t in counts if "K" not in t), counts
    assert ticks("error-rate") and all(t.endswith(" %") for t in ticks("error-rate")), ticks("error-rate")
    assert all(re.fullmatch(r"[\d.]+ (B|KB|MB|GB)", t) for t in ticks("bytes")), ticks("bytes")

    page.goto(f"{hub_url}/apps/{app_id}/performance?period=1h")
    page.wait_for_selector("#chart-apdex[data-drawn]")
    assert ticks("apdex") == ["0.00", "0.25", "0.50", "0.75", "1.00"]
    assert ticks("percentiles") and all(re.fullmatch(r"[\d.]+ (ms|s)", t) for t in ticks("percentiles"))
    assert ticks("response-times"), "the response-time distribution is a chart"
    page.goto(
        f"{hub_url}/apps/{app_id}/traffic?period=custom&start=2020-01-01T00:00:00Z&end=2020-01-02T00:00:00Z"
    )
    assert page.locator(".empty-state:has-text('No requests in this range.')").count() == 3
    page.screenshot(path=str(SHOTS / "traffic-empty-range.png"), full_page=True)
    page.goto(f"{hub_url}/apps/{app_id}/traffic?period=1h")
