"""The errors page's status-code chart in a real browser (Playwright driving Debian's chromium): bars per
code coloured by class, and chart tooltips that spell times as the pages do.

Screenshots go to test-output/dashboard/.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tallyhub.storage.database import Database

from tests.support.browser import chromium, sign_in
from tests.support.hub_process import HubProcess
from tests.support.syncs import request_entry, startup_body, sync_body

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[3] / "test-output" / "dashboard"
INSTANCE = str(uuid.uuid4())
PASSWORD = "a long password"
WARN, ERROR = (217, 119, 6), (220, 38, 38)  # pagedata's 4xx and 5xx colours


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _post(hub_url: str, client_id: str, kind: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{hub_url}/v2/{client_id}/prod/{kind}", json=body, timeout=10)
    assert response.status_code == 202, response.text


def _runs(page: Any, selector: str, height_ratio: float, colour: tuple[int, int, int]) -> list[int]:
    """Widths of the runs of `colour` pixels across one row of the chart's canvas."""
    return list(
        page.evaluate(
            """([selector, ratio, rgb]) => {
                const canvas = document.querySelector(selector + ' canvas');
                const y = Math.round(canvas.height * ratio);
                const row = canvas.getContext('2d').getImageData(0, y, canvas.width, 1).data;
                const runs = [];
                let run = 0;
                for (let x = 0; x < canvas.width; x++) {
                    const hit = [0, 1, 2].every((k) => Math.abs(row[4 * x + k] - rgb[k]) < 30);
                    if (hit) run++;
                    else if (run) { runs.push(run); run = 0; }
                }
                if (run) runs.push(run);
                return runs;
            }""",
            [selector, height_ratio, list(colour)],
        )
    )


def test_errors_page_draws_status_codes_as_bars(browser: Any, hub: HubProcess, database_url: str) -> None:
    from tallyhub.accounts import teams, users

    engine = "sqlite" if database_url.startswith("sqlite") else "postgres"
    db = Database(hub.database_url)
    try:
        with db.write() as conn:
            user = users.create_user(conn, "root@example.com", users.hash_password(PASSWORD))
            teams.set_role(conn, user.id, teams.ensure_team(conn, teams.DEFAULT_TEAM).id, "member")
    finally:
        db.dispose()
    created = hub.create_app("Shop", "prod")
    app_id, client_id = created["id"], created["client_id"]
    _post(hub.url, client_id, "startup", startup_body(INSTANCE, [("GET", "/items"), ("POST", "/pay")]))
    requests = [
        request_entry("GET", "/items", 200, 40, 20, "acme"),
        request_entry("GET", "/items", 404, 12, 10, "acme"),
        request_entry("POST", "/pay", 422, 9, 10),
        request_entry("POST", "/pay", 500, 10, 30, "acme"),
    ]
    consumers = [{"identifier": "acme", "name": "Acme Corp", "group": None}]
    declined = {
        "consumer": "acme",
        "method": "POST",
        "path": "/pay",
        "type": "shop.Declined",
        "msg": "card declined",
        "traceback": "Traceback (most recent call last):\nshop.Declined: card declined",
        "sentry_event_id": None,
        "error_count": 10,
    }
    _post(
        hub.url,
        client_id,
        "sync",
        sync_body(
            INSTANCE, time.time() - 600, requests=requests, consumers=consumers, server_errors=[declined]
        ),
    )

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    sign_in(page, hub.url, "root@example.com", PASSWORD)

    page.goto(f"{hub.url}/apps/{app_id}/errors?period=1h")
    page.wait_for_selector("#chart-status-codes[data-drawn] canvas")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{engine}-errors-status-codes.png"), full_page=True)
    # Near the bottom of the plot every bar is crossed: 404 and 422 in the 4xx colour, 500 in the 5xx one.
    assert len(_runs(page, "#chart-status-codes", 0.7, WARN)) == 2
    assert len(_runs(page, "#chart-status-codes", 0.7, ERROR)) == 1
    # Higher up only the tallest bar (404: 12) is still crossed; bars, not lines: each run is wide.
    assert [len(_runs(page, "#chart-status-codes", 0.2, c)) for c in (WARN, ERROR)] == [1, 0]
    assert min(_runs(page, "#chart-status-codes", 0.7, WARN)) >= 8
    ticks = page.get_attribute("#chart-status-codes", "data-y-ticks")
    assert ticks and ticks != "[]"

    # The tooltip names the status code and its count.
    page.locator("#chart-status-codes").scroll_into_view_if_needed()
    box = page.locator("#chart-status-codes .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 5 / 6, box["y"] + box["height"] * 0.8)
    tip = page.locator("#chart-status-codes .chart-tooltip")
    assert tip.inner_text().splitlines() == ["500", "5xx: 10"]
    # Consumers by name, the identifier on hover.
    assert page.locator("a.consumer[title='acme']").first.inner_text() == "Acme Corp"

    # Time charts' tooltips spell times as the pages do, with how long ago.
    page.goto(f"{hub.url}/apps/{app_id}/traffic?period=1h")
    page.wait_for_selector("#chart-requests[data-drawn] .u-over")
    box = page.locator("#chart-requests .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    heading = page.locator("#chart-requests .chart-tooltip").inner_text().splitlines()[0]
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{2}:\d{2} UTC \((\d+ minutes? ago|just now)\)", heading), (
        heading
    )
    assert problems == []
    context.close()
