"""Saved views and wildcard path filters in a real browser: Playwright driving Debian's chromium against
`tallyhub serve` (both engines). Figures are recomputed from the syncs sent."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from tallyhub.storage.database import Database

from tests.support.browser import chromium
from tests.support.hub_process import HubProcess
from tests.support.syncs import request_entry, startup_body, sync_body

pytestmark = pytest.mark.e2e
PASSWORD = "a long password"
SHOTS = Path(__file__).resolve().parents[3] / "test-output" / "dashboard"
# (method, route, status, count): /v1/** is 31 requests, /v1/items/* 22 of them.
SENT = [
    ("GET", "/v1/items/<int:id>", 200, 18),
    ("GET", "/v1/items/<int:id>", 404, 4),
    ("POST", "/v1/orders", 201, 9),
    ("GET", "/v2/ping", 200, 40),
]


def _at(page: str, /, **params: str) -> Any:
    """A wait_for_url predicate: the page `page` with exactly these query parameters (any encoding)."""
    return lambda url: urlsplit(url).path == page and dict(parse_qsl(urlsplit(url).query)) == params


def _requests(prefix: str) -> int:
    return sum(n for _, route, _, n in SENT if route.startswith(prefix))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _send(hub: HubProcess, client_id: str) -> None:
    instance = str(uuid.uuid4())
    routes = sorted({(m, p) for m, p, _, _ in SENT})
    for kind, body in (
        ("startup", startup_body(instance, routes)),
        ("sync", sync_body(instance, time.time() - 120, requests=[request_entry(*s, 20) for s in SENT])),
    ):
        response = httpx.post(f"{hub.url}/v2/{client_id}/prod/{kind}", json=body, timeout=10)
        assert response.status_code == 202, response.text


def test_wildcard_filter_then_save_apply_and_delete_a_view(
    browser: Any, hub: HubProcess, database_url: str
) -> None:
    from tallyhub.accounts import teams, users

    engine = "sqlite" if database_url.startswith("sqlite") else "postgres"
    db = Database(hub.database_url)
    try:
        with db.write() as conn:
            user = users.create_user(conn, "mia@example.com", users.hash_password(PASSWORD))
            teams.set_role(conn, user.id, teams.ensure_team(conn, teams.DEFAULT_TEAM).id, "member")
    finally:
        db.dispose()
    created = hub.create_app("Shop", "prod")
    app_id = created["id"]
    _send(hub, str(created["client_id"]))

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(f"{hub.url}/login")
    page.fill('input[name="email"]', "mia@example.com")
    page.fill('input[name="password"]', PASSWORD)
    page.click('main button[type="submit"]')
    page.wait_for_url(f"{hub.url}/apps")

    def requests() -> int:
        return int(page.locator(".stat:has(.label:text-is('Requests')) .value").inner_text())

    traffic, errors = f"/apps/{app_id}/traffic", f"/apps/{app_id}/errors"
    # A wildcard in the endpoint field narrows the figures to the matching routes.
    page.goto(f"{hub.url}/apps/{app_id}/traffic?period=1h")
    assert requests() == sum(n for *_, n in SENT)
    page.fill('.filters input[name="path"]', "/v1/**")
    page.click(".filters button[type=submit]")
    page.wait_for_url(_at(traffic, period="1h", path="/v1/**"))
    assert requests() == _requests("/v1/") == 31
    page.fill('.filters input[name="path"]', "/v1/items/*")
    page.click(".filters button[type=submit]")
    page.wait_for_url(_at(traffic, period="1h", path="/v1/items/*"))
    assert requests() == _requests("/v1/items/") == 22
    page.click(".appnav >> text='Errors'")
    page.wait_for_url(_at(errors, period="1h", path="/v1/items/*"))
    assert page.locator(".stat:has(.label:text-is('Client errors (4xx)')) .value").inner_text() == "4"

    # Save the filters as a shared view, named.
    page.fill(".save-view input[name='name']", "Items, last hour")
    page.check(".save-view input[name='shared']")
    page.click(".save-view button[type=submit]")
    page.wait_for_url(_at(errors, period="1h", path="/v1/items/*"))
    view = page.locator(".saved-view a", has_text="Items, last hour")
    assert view.get_attribute("aria-current") == "true"
    assert page.locator(".saved-view .shared").inner_text() == "shared"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{engine}-saved-view.png"), full_page=True)

    # Reset, then apply the view on another page: the range and the pattern come back.
    page.click(".filters a.reset")
    page.wait_for_url(_at(errors))
    page.click(".appnav >> text='Traffic'")
    page.wait_for_url(_at(traffic))
    page.click(".saved-view a >> text='Items, last hour'")
    page.wait_for_url(_at(traffic, period="1h", path="/v1/items/*"))
    assert requests() == 22
    assert page.input_value('.filters input[name="path"]') == "/v1/items/*"
    assert page.is_checked(".filters input[name='period'][value='1h']")

    # Delete it: the bar no longer lists it.
    page.click(".saved-view button[aria-label='Delete view Items, last hour']")
    page.wait_for_url(_at(traffic, period="1h", path="/v1/items/*"))
    assert page.locator(".saved-view").count() == 0
    assert page.locator(".saved-views .none").inner_text() == "none yet"
    assert problems == []
    context.close()


def test_clicking_a_bar_focuses_the_range_on_its_bucket(browser: Any, hub: HubProcess) -> None:
    from tallyhub.accounts import teams, users

    db = Database(hub.database_url)
    try:
        with db.write() as conn:
            user = users.create_user(conn, "vic@example.com", users.hash_password(PASSWORD))
            teams.set_role(conn, user.id, teams.ensure_team(conn, teams.DEFAULT_TEAM).id, "viewer")
    finally:
        db.dispose()
    created = hub.create_app("Shop", "prod")
    _send(hub, str(created["client_id"]))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{hub.url}/login")
    page.fill('input[name="email"]', "vic@example.com")
    page.fill('input[name="password"]', PASSWORD)
    page.click('main button[type="submit"]')
    page.wait_for_url(f"{hub.url}/apps")
    shown_at = time.time()
    page.goto(f"{hub.url}/apps/{created['id']}/traffic?period=1h&path=%2Fv1%2F**")
    page.wait_for_selector("#chart-requests[data-drawn] .u-over")
    box = page.locator("#chart-requests .u-over").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url(lambda url: dict(parse_qsl(urlsplit(url).query)).get("period") == "custom")
    params = dict(parse_qsl(urlsplit(page.url).query))
    start, end = (datetime.fromisoformat(params[k]).timestamp() for k in ("start", "end"))
    # One minute bucket (the 1 h range is drawn per minute) inside the hour shown; other filters kept.
    assert end - start == 60 and start % 60 == 0
    assert shown_at - 3600 - 60 <= start <= shown_at
    assert params["path"] == "/v1/**"
    assert page.is_checked('input[name="period"][value="custom"]')
    context.close()
