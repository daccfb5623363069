"""Under the hub's CSP (no inline script or style), the dashboard and the API docs render in chromium.

A violation shows in the browser's console as an error, as does a script or style that failed to
load (the docs page loads Swagger UI from the hub, never from a CDN).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tallyhub.storage.database import Database

from tests.support.browser import chromium, sign_in
from tests.support.hub_process import HubProcess
from tests.support.syncs import request_entry, sync_body

pytestmark = pytest.mark.e2e

PASSWORD = "a long password"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _app_with_traffic(hub: HubProcess) -> int:
    from tallyhub.accounts import teams, users

    db = Database(hub.database_url)
    try:
        with db.write() as conn:
            user = users.create_user(conn, "root@example.com", users.hash_password(PASSWORD))
            teams.set_role(conn, user.id, teams.ensure_team(conn, teams.DEFAULT_TEAM).id, "admin")
    finally:
        db.dispose()
    created = hub.create_app("Shop")
    entry = request_entry("GET", "/items", 200, 5, 30)
    body = sync_body(str(uuid.uuid4()), time.time() - 3600, requests=[entry])
    response = httpx.post(f"{hub.url}/v2/{created['client_id']}/prod/sync", json=body, timeout=10)
    assert response.status_code == 202, response.text
    return int(created["id"])  # type: ignore[call-overload]


def test_dashboard_and_api_docs_render_with_no_csp_violation(browser: Any, hub: HubProcess) -> None:
    app_id = _app_with_traffic(hub)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems: list[str] = []
    page.on(
        "console", lambda msg: problems.append(f"{page.url}: {msg.text}") if msg.type == "error" else None
    )
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: page error {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    sign_in(page, hub.url, "root@example.com", PASSWORD)
    assert "Shop" in page.inner_text("main")
    for path in ("traffic", "performance", "data-transferred", "endpoints", "consumers", "errors"):
        page.goto(f"{hub.url}/apps/{app_id}/{path}?env=prod&period=24h", wait_until="load")
        if path == "traffic":
            page.wait_for_selector("#chart-requests[data-drawn] canvas")
            legend = page.locator(".legend .swatch rect").first
            assert legend.get_attribute("fill")  # the series colour, as an SVG attribute
    page.goto(f"{hub.url}/api/v1/docs", wait_until="load")
    page.wait_for_selector(".opblock-summary-path")  # Swagger UI drew the operations
    assert "/api/v1/apps" in page.inner_text("#swagger-ui")
    loaded = page.evaluate("() => performance.getEntriesByType('resource').map(r => r.name)")
    assert loaded and all(url.startswith(hub.url) for url in loaded), loaded
    assert problems == []


def test_a_rules_page_draws_its_values_against_the_threshold(browser: Any, hub: HubProcess) -> None:
    from tallyhub.alerts import rules as alert_rules
    from tallyhub.alerts.rule_spec import parse_form

    app_id = _app_with_traffic(hub)  # 5 requests an hour ago: inside the 24 h window of the rule below
    form = {"name": "busy", "env": "prod", "metric": "requests", "window_seconds": "86400", "comparison": ">"}
    db = Database(hub.database_url)
    try:
        with db.write() as conn:
            rule_id = alert_rules.create(
                conn, app_id, parse_form({**form, "threshold": "3"}, ("prod",)), time.time()
            )
    finally:
        db.dispose()
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error {exc}"))
    page.goto(f"{hub.url}/login")
    page.fill('input[name="email"]', "root@example.com")
    page.fill('input[name="password"]', PASSWORD)
    page.click('main button[type="submit"]')
    page.wait_for_url(f"{hub.url}/apps")
    page.goto(f"{hub.url}/apps/{app_id}/alerts/{rule_id}", wait_until="load")
    page.wait_for_selector("#chart-rule-values[data-drawn] canvas")
    legend = page.inner_text("#rule-values .legend")
    assert "total requests" in legend and "threshold (> 3)" in legend
    assert problems == []
