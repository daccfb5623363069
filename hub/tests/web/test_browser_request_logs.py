"""The request-log explorer in a real browser (Playwright, Debian's chromium, `tallyhub serve`): filter,
open a detail and see its body, traceback, app logs and waterfall, export CSV and read the file back.

Screenshots go to test-output/dashboard/.
"""

from __future__ import annotations

import base64
import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tallyhub.storage.database import Database

from tests.support.browser import chromium, sign_in
from tests.support.hub_process import HubProcess
from tests.support.request_logs import sample_log, store_logs

pytestmark = pytest.mark.e2e

PASSWORD = "a long password"
SHOTS = Path(__file__).resolve().parents[3] / "test-output" / "dashboard"
N = 120


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _shop_with_logs(hub: HubProcess) -> tuple[int, list[Any]]:
    from tallyhub.accounts import teams, users

    created = hub.create_app("Shop", "prod")
    app_id = int(created["id"])  # type: ignore[call-overload]
    logs = [sample_log(i, time.time() - 7200) for i in range(N)]
    db = Database(hub.database_url)
    try:
        with db.write() as conn:
            user = users.create_user(conn, "root@example.com", users.hash_password(PASSWORD))
            teams.set_role(conn, user.id, teams.ensure_team(conn, teams.DEFAULT_TEAM).id, "viewer")
        store_logs(db, app_id, "prod", logs, time.time())
    finally:
        db.dispose()
    return app_id, logs


def test_filter_open_a_request_and_export_csv(browser: Any, hub: HubProcess, database_url: str) -> None:
    engine = "sqlite" if database_url.startswith("sqlite") else "postgres"
    app_id, logs = _shop_with_logs(hub)
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, hub.url, "root@example.com", PASSWORD)

    page.goto(f"{hub.url}/apps/{app_id}/traffic")
    page.click('nav.appnav a:has-text("Request logs")')
    page.wait_for_selector("#request-logs")
    assert page.locator("#request-logs tbody tr").count() == 50  # one page of the 120
    assert page.locator("#older").count() == 1

    page.fill('input[name="request_body"]', "needle3")
    page.select_option('select[name="has_exception"]', "true")
    page.click('form.filters button[type="submit"]')
    page.wait_for_url("**request_body=needle3**")
    expected = [
        log
        for log in logs
        if log.exception is not None and "Needle3" in base64.b64decode(log.request_body or "").decode()
    ]
    rows = page.locator("#request-logs tbody tr")
    assert rows.count() == len(expected) > 0
    page.screenshot(path=str(SHOTS / f"request-logs-{engine}.png"), full_page=True)

    shared_url = page.url  # the filters are the URL: a fresh page with it shows the same rows
    other = context.new_page()
    other.goto(shared_url)
    assert other.locator("#request-logs tbody tr").count() == len(expected)
    other.close()

    with page.expect_download() as download_info:
        page.click("#export-csv")
    page.wait_for_selector("#export-progress[data-rows]")
    assert page.inner_text("#export-progress") == f"Exported {len(expected)} rows."
    exported = Path(download_info.value.path()).read_text()
    table = list(csv.DictReader(io.StringIO(exported)))
    assert sorted(r["url"] for r in table) == sorted(log.url for log in expected)
    assert all(r["exception_type"] == "ValueError" for r in table)

    rows.first.locator("td a").first.click()
    page.wait_for_selector("#trace")
    main = page.inner_text("main")
    newest = expected[-1]
    assert '"note": "Needle3_50%"' in page.inner_text("#request pre.body")
    assert "ValueError: card declined" in page.inner_text("#exception pre.traceback")
    assert f"charging order {logs.index(newest)}" in page.inner_text("#app-logs")
    assert "WARNING" in page.inner_text("#app-logs") and "shop.pay" in main
    spans = page.locator("#trace tr.span")
    assert spans.count() == 2 and page.locator("#trace svg.bar rect").count() == 2
    spans.nth(1).locator("summary").click()  # attributes on click
    assert '"db.statement": "SELECT 1"' in spans.nth(1).locator("pre.attributes").inner_text()
    page.screenshot(path=str(SHOTS / f"request-log-detail-{engine}.png"), full_page=True)
    assert problems == []
    context.close()
