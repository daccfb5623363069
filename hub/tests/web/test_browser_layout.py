"""Every dashboard page in a real browser at 1400 and 800 px: screenshots and what a reader checks.

One chromium and one seeded hub (SQLite) serve every case. Screenshots go to $TALLYHUB_SCREENSHOTS_DIR,
else to a folder under pytest's tmp (printed, and named in every failure message).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade

from tests.support import app_logs
from tests.support.browser import chromium, green_bar_runs
from tests.support.hub_process import HubProcess, free_port
from tests.support.syncs import request_entry, startup_body, sync_body

pytestmark = pytest.mark.e2e

WIDTHS = (1400, 800)
EMAIL, PASSWORD = "root@example.com", "a long password"
SYNCS = 4  # one per quarter hour in the last hour: 4 bars on the requests chart
EMPTY_RANGE = "period=custom&start=2020-01-01T00:00:00Z&end=2020-01-02T00:00:00Z"
INSTANCE = str(uuid.uuid4())


@dataclasses.dataclass(frozen=True)
class Seeded:
    hub: HubProcess
    app_id: int  # "Shop", with an hour of traffic
    quiet_id: int  # "Quiet", never sent anything
    team_id: int
    shots: Path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _post(hub: HubProcess, client_id: str, kind: str, body: dict[str, Any]) -> None:
    import httpx

    response = httpx.post(f"{hub.url}/v2/{client_id}/prod/{kind}", json=body, timeout=10)
    assert response.status_code == 202, response.text


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A hub on SQLite with an admin, an app with an hour of real syncs, and an app without data."""
    from tallyhub.accounts import teams, users

    folder = tmp_path_factory.mktemp("layout-hub")
    url = f"sqlite:///{folder / 'tallyhub.sqlite3'}"
    db = Database(url)
    try:
        upgrade(db)
        with db.write() as conn:
            user = users.create_user(conn, EMAIL, users.hash_password(PASSWORD))
            team_id = teams.ensure_team(conn, teams.DEFAULT_TEAM).id
            teams.set_role(conn, user.id, team_id, "admin")
    finally:
        db.dispose()
    hub = HubProcess(url, free_port(), folder / "hub.log")
    hub.start()
    try:
        shop = hub.create_app("Shop", "prod")
        quiet = hub.create_app("Quiet", "prod")
        client_id = str(shop["client_id"])
        paths = [("GET", "/items"), ("POST", "/pay"), ("GET", "/reports/<name>")]
        _post(hub, client_id, "startup", startup_body(INSTANCE, paths))
        now = time.time()
        for minutes_ago in (50, 35, 20, 5):
            body = sync_body(
                INSTANCE,
                now - minutes_ago * 60,
                requests=[
                    request_entry("GET", "/items", 200, 40, 20, "acme", response_size=3000),
                    request_entry("GET", "/reports/<name>", 200, 3, 900, "globex", response_size=90_000),
                    request_entry("POST", "/pay", 500, 2, 150, "acme", request_size=400),
                    request_entry("GET", "/items", 404, 4, 10),
                ],
                consumers=[{"identifier": "acme", "name": "Acme", "group": "Partners"}],
                resources={"cpu_percent": 7.5, "memory_rss": 61_000_000},
            )
            _post(hub, client_id, "sync", body)
        _store_app_logs(url, int(str(shop["id"])), now)
        shots = Path(os.environ.get("TALLYHUB_SCREENSHOTS_DIR") or tmp_path_factory.mktemp("screenshots"))
        shots.mkdir(parents=True, exist_ok=True)
        print(f"\nDashboard screenshots: {shots}")
        yield Seeded(hub, int(str(shop["id"])), int(str(quiet["id"])), team_id, shots)
    finally:
        hub.stop()


def _store_app_logs(url: str, app_id: int, now: float) -> None:
    """Logged requests with application logs and spans (long messages and names included)."""
    logs = [app_logs.request(i, now - 3000) for i in range(12)]
    for log in logs[:2]:
        assert log.logs and log.spans
        log.logs[0].message = "a long message without spaces " + "x" * 300
        log.spans[0].name = "SELECT items.id, items.name FROM items WHERE items.owner_id = $1 " * 2
    db = Database(url)
    try:
        app_logs.store(db, app_id, "prod", logs, now)
    finally:
        db.dispose()


def _pages(s: Seeded) -> dict[str, str]:
    """Every signed-in dashboard page (name: path), with an hour's range where a page has one."""
    app = f"/apps/{s.app_id}"
    slugs = ["traffic", "errors", "performance", "data-transferred", "endpoints", "consumers", "instances"]
    slugs += ["app-logs", "traces"]
    return {
        "apps": "/apps?period=1h",
        "apps-new": "/apps/new",
        **{slug: f"{app}/{slug}?period=1h" for slug in slugs},
        "endpoint-detail": f"{app}/endpoints/detail?period=1h&method=GET&path=%2Fitems",
        "consumer-detail": f"{app}/consumers/detail?period=1h&consumer=acme",
        "consumer-groups": f"{app}/consumers/groups?period=1h",
        "uptime": f"{app}/uptime?period=1h",
        "setup": f"{app}/setup",
        "alerts": f"{app}/alerts",
        "alert-new": f"{app}/alerts/new",
        "alert-history": f"{app}/alerts/history",
        "settings": f"{app}/settings",
        "team": f"/teams/{s.team_id}",
        "channels": f"/teams/{s.team_id}/channels",
        "account": "/account",
        "quiet-traffic": f"/apps/{s.quiet_id}/traffic?period=1h",
        "empty-range-traffic": f"{app}/traffic?{EMPTY_RANGE}",
        "empty-range-performance": f"{app}/performance?{EMPTY_RANGE}",
        "no-logs-app-logs": f"/apps/{s.quiet_id}/app-logs?period=1h",
        "no-logs-traces": f"/apps/{s.quiet_id}/traces?period=1h",
    }


# Elements whose right edge passes the viewport and that no scrolling box of theirs contains.
OVERFLOWING = """() => {
    const width = document.documentElement.clientWidth;
    const scrolls = (el) => {
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
            const x = getComputedStyle(p).overflowX;
            if (x === 'auto' || x === 'scroll' || x === 'hidden') return true;
        }
        return false;
    };
    const found = [];
    for (const el of document.body.querySelectorAll('*')) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;
        if ((box.right > width + 1 || box.left < -1) && !scrolls(el)) {
            found.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className} ` +
                       `${Math.round(box.left)}..${Math.round(box.right)}`);
        }
    }
    return {scroll: document.documentElement.scrollWidth, width, found: found.slice(0, 10)};
}"""

# Tick labels in each chart's unit (counts carry theirs as the axis label, the chart's data-unit).
UNIT_TICK = {
    "ms": r"[\d.]+ (ms|s)",
    "%": r"[\d.]+ %",
    "B": r"[\d.]+ (B|KB|MB|GB)",
    "apdex": r"[01]\.\d\d",
}


@pytest.fixture(scope="module")
def signed_in(browser: Any, seeded: Seeded) -> Iterator[Any]:
    """A browser context with the admin's session (each case sets its own viewport)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{seeded.hub.url}/login")
    page.screenshot(path=str(seeded.shots / "login-1400.png"), full_page=True)
    page.fill('input[name="email"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    page.click('main button[type="submit"]')
    page.wait_for_url(f"{seeded.hub.url}/apps")
    page.close()
    yield context
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_viewport_and_its_charts_read(signed_in: Any, seeded: Seeded, width: int) -> None:
    page = signed_in.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    where = f"(screenshots in {seeded.shots})"
    charts_seen = 0
    for name, path in _pages(seeded).items():
        response = page.goto(f"{seeded.hub.url}{path}")
        assert response is not None and response.status == 200, (name, response and response.status)
        for chart in page.locator("[data-chart]").all():
            chart.locator("canvas").wait_for()
        page.screenshot(path=str(seeded.shots / f"{name}-{width}.png"), full_page=True)
        fit = page.evaluate(OVERFLOWING)
        assert fit["scroll"] <= fit["width"] and not fit["found"], (name, width, fit, where)
        for chart in page.locator("[data-chart]").all():
            charts_seen += 1
            chart_id = chart.get_attribute("id")
            unit = chart.get_attribute("data-unit") or ""
            # A log-scaled axis leaves the ticks between powers of ten unlabelled.
            ticks = [t for t in json.loads(chart.get_attribute("data-y-ticks") or "[]") if t]
            assert unit and ticks, (name, chart_id, unit, ticks)
            pattern = UNIT_TICK.get(unit, r"\d+(\.\d)?[KM]?")  # a count: the unit is the axis label
            assert all(re.fullmatch(pattern, t) for t in ticks), (name, chart_id, unit, ticks)
        if name == "instances":
            # CPU, memory and the request rate of prod, drawn on one time axis.
            drawn = [
                page.locator(f"#chart-{c}-1[data-drawn] canvas").count() for c in ("cpu", "memory", "rate")
            ]
            assert drawn == [1, 1, 1], (name, width, drawn)
            times = [
                json.loads(page.get_attribute(f"#chart-{c}-1", "data-chart") or "{}")["times"]
                for c in ("cpu", "rate")
            ]
            assert times[0] == times[1] and times[0], name
        if name.startswith("no-logs-"):
            assert page.locator(".empty-state").count() == 1, name
        if name in ("app-logs", "traces"):
            assert page.locator("table a[href*='/request-logs/']").count() > 0, name
        if name.startswith(("quiet-", "empty-range-")):
            # An empty range draws no flat zero line: every chart is the empty state.
            assert page.locator("[data-chart]").count() == 0, name
            assert page.locator(".empty-state:has-text('No requests in this range.')").count() > 0, name
    assert charts_seen > 10, charts_seen
    assert problems == [], problems
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_request_counts_are_bars_at_every_width(signed_in: Any, seeded: Seeded, width: int) -> None:
    """At mid-height the requests chart crosses one filled green run per sync (a line would cross each
    spike twice, 2 px wide), and the filter bar wraps inside the viewport."""
    page = signed_in.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{seeded.hub.url}/apps/{seeded.app_id}/traffic?period=1h")
    page.wait_for_selector("#chart-requests[data-drawn] canvas")
    runs = green_bar_runs(page, "#chart-requests")
    assert len(runs) == SYNCS and min(runs) >= 3, (width, runs)
    bar = page.locator("form.filters").bounding_box()
    assert bar is not None and bar["x"] >= 0 and bar["x"] + bar["width"] <= width, (width, bar)
    page.close()


def test_time_range_control_carries_across_pages_and_custom_range_applies(
    signed_in: Any, seeded: Seeded
) -> None:
    """One control: a preset applies at once and every nav link keeps it; "Custom" opens from/to."""
    page = signed_in.new_page()
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(f"{seeded.hub.url}/apps/{seeded.app_id}/traffic")
    assert page.locator("form.filters select[name='period']").count() == 0
    page.click(".presets label:has-text('7 d')")
    page.wait_for_url(re.compile(r".*period=7d.*"))
    for label in ("Errors", "Instances", "Uptime", "Setup", "Alerts", "Settings", "Traffic"):
        page.click(f".appnav >> text='{label}'")
        page.wait_for_load_state()
        assert "period=7d" in page.url, (label, page.url)
    assert not page.is_visible("input[name='start']")
    page.click(".presets label:has-text('Custom')")
    page.fill("input[name='start']", "2020-01-01T00:00")
    page.fill("input[name='end']", "2020-01-02T00:00")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r".*period=custom&start=2020-01-01T00%3A00&end=2020-01-02T00%3A00.*"))
    assert page.is_checked("input[name='period'][value='custom']")
    assert page.locator(".empty-state").count() > 0
    page.close()


def test_alert_form_shows_the_chosen_kinds_fields_only(signed_in: Any, seeded: Seeded) -> None:
    page = signed_in.new_page()
    page.goto(f"{seeded.hub.url}/apps/{seeded.app_id}/alerts/new")
    visible = {
        kind: [
            page.is_visible(f"[name='{field}']")
            for field in ("threshold", "window_seconds", "baseline_hours")
        ]
        for kind in ("metric", "consumer_quiet", "env_down")
        if page.select_option("select[name='kind']", kind)
    }
    assert visible == {
        "metric": [True, True, False],
        "consumer_quiet": [False, True, True],
        "env_down": [False, False, False],
    }
    assert page.is_visible("[name='interval_seconds']")
    page.click(f".topbar a[href='/teams/{seeded.team_id}/channels']")
    page.wait_for_url(f"{seeded.hub.url}/teams/{seeded.team_id}/channels")
    page.close()
