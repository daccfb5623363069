"""The Uptime page: state, percentages, incidents and health checks by role; wrong team 404 (both engines)."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import envs, health_checks
from tallyhub.uptime.incidents import HEALTH_CHECK, HEARTBEAT, open_incident

from tests.support.uptime import env_id, synced


@pytest.fixture
def world(web):
    """Acme (admin ann, member mia, viewer vic) with the app Shop; Other (admin eve)."""
    web.user("ann@example.com", "Acme", "admin")
    web.user("mia@example.com", "Acme", "member")
    web.user("vic@example.com", "Acme", "viewer")
    web.user("eve@example.com", "Other", "admin")
    shop = app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))
    return {"shop": shop.id}


def _checks(web) -> list:
    with web.db.read() as conn:
        return list(conn.execute(sa.select(health_checks).order_by(health_checks.c.id)).all())


def test_the_page_shows_state_percentages_and_incidents(web, world) -> None:
    prod = env_id(web.db, world["shop"])
    now = time.time()
    synced(web.db, prod, now - 7200)
    with web.db.write() as conn:
        open_incident(
            conn, prod, HEARTBEAT, None, now - 3600, "No instance of Shop / prod has synced since then.", {}
        )
    for email in ("ann@example.com", "mia@example.com", "vic@example.com"):
        page = web.signed_in(email).get(f"/apps/{world['shop']}/uptime")
        assert page.status_code == 200
        assert (
            f'href="/apps/{world["shop"]}/uptime"' in page.text and 'aria-current="page">Uptime' in page.text
        )
        prod_section = page.text.split('data-env="prod"')[1].split("</section>")[0]
        assert 'data-state="down"' in prod_section
        # Down for the last hour of the two watched (the page computes a moment later than this test).
        assert re.search(r'data-window="24h">(49\.9\d|50\.00) %', prod_section)
        assert (
            "No instance of Shop / prod has synced since then." in prod_section and "ongoing" in prod_section
        )
        assert prod_section.count('class="daybar ') == 90
        dev_section = page.text.split('data-env="dev"')[1].split("</section>")[0]
        assert 'data-state="unmonitored"' in dev_section
        assert ("Add health check" in page.text) is (not email.startswith("vic"))


def test_a_member_creates_edits_pauses_and_deletes_a_check(web, world) -> None:
    mia = web.signed_in("mia@example.com")
    base = f"/apps/{world['shop']}/uptime"
    form = {"env": "dev", "url": "https://shop.example/health", "method": "HEAD", "expected_status": "204"}
    created = web.post(
        mia,
        f"{base}/checks",
        {**form, "body_contains": "", "timeout_seconds": "", "interval_seconds": "30"},
        page=base,
    )
    assert created.status_code == 303 and created.headers["location"] == f"{base}?notice=created"
    [check] = _checks(web)
    assert (
        check.url,
        check.method,
        check.expected_status,
        check.interval_seconds,
        check.timeout_seconds,
    ) == ("https://shop.example/health", "HEAD", 204, 30, 5.0)
    page = mia.get(base)
    assert "HEAD https://shop.example/health" in page.text and "not run yet" in page.text

    edit_page = mia.get(f"{base}?edit={check.id}")
    assert 'value="https://shop.example/health"' in edit_page.text and "Edit health check" in edit_page.text
    saved = web.post(
        mia,
        f"{base}/checks/{check.id}",
        {
            "url": "https://shop.example/ping",
            "method": "GET",
            "expected_status": "200",
            "body_contains": "pong",
        },
        page=base,
    )
    assert saved.status_code == 303
    [check] = _checks(web)
    assert (check.url, check.body_contains, check.interval_seconds) == (
        "https://shop.example/ping",
        "pong",
        60,
    )

    assert web.post(mia, f"{base}/checks/{check.id}/pause", {"paused": "1"}, page=base).status_code == 303
    assert _checks(web)[0].paused is True
    assert "Resume" in mia.get(base).text
    assert web.post(mia, f"{base}/checks/{check.id}/pause", {"paused": "0"}, page=base).status_code == 303
    assert _checks(web)[0].paused is False
    assert web.post(mia, f"{base}/checks/{check.id}/delete", page=base).status_code == 303
    assert _checks(web) == []


def test_heartbeat_switch(web, world) -> None:
    ann = web.signed_in("ann@example.com")
    base = f"/apps/{world['shop']}/uptime"
    assert web.post(ann, f"{base}/heartbeat", {"env": "prod", "enabled": "0"}, page=base).status_code == 303
    with web.db.read() as conn:
        assert (
            conn.execute(sa.select(envs.c.heartbeat_enabled).where(envs.c.name == "prod")).scalar() is False
        )
    assert "Heartbeat off" in ann.get(base).text
    assert web.post(ann, f"{base}/heartbeat", {"env": "nope", "enabled": "0"}, page=base).status_code == 404


def test_a_bad_field_is_named_and_the_form_kept(web, world) -> None:
    mia = web.signed_in("mia@example.com")
    base = f"/apps/{world['shop']}/uptime"
    for field, value, words in [
        ("url", "ftp://shop.example/", "Url &#39;ftp://shop.example/&#39; is not an http:// or https:// URL"),
        ("expected_status", "42", "Expected status must be between 100 and 599"),
        ("interval_seconds", "often", "Interval seconds &#39;often&#39; is not a whole number"),
        ("method", "FETCH", "Method &#39;FETCH&#39; is not one of"),
    ]:
        data = {"env": "prod", "url": "https://shop.example/health", field: value}
        response = web.post(mia, f"{base}/checks", data, page=base)
        assert response.status_code == 400, field
        assert words in response.text, (field, response.text.split('role="alert">')[1][:200])
        assert 'value="https://shop.example/health"' in response.text or field == "url"
    assert _checks(web) == []


def test_viewers_may_not_write_and_other_teams_see_nothing(web, world) -> None:
    prod = env_id(web.db, world["shop"])
    with web.db.write() as conn:
        check = conn.execute(
            health_checks.insert()
            .values(
                env_id=prod,
                url="https://shop.example/",
                method="GET",
                expected_status=200,
                timeout_seconds=5,
                interval_seconds=60,
                created_at=0,
                next_run_at=0,
            )
            .returning(health_checks.c.id)
        ).scalar_one()
        open_incident(conn, prod, HEALTH_CHECK, check, 1.0, "failing", {"url": "https://shop.example/"})
    base = f"/apps/{world['shop']}/uptime"
    writes = [
        (f"{base}/checks", {"env": "prod", "url": "https://x.example/"}),
        (f"{base}/checks/{check}", {"url": "https://x.example/"}),
        (f"{base}/checks/{check}/pause", {"paused": "1"}),
        (f"{base}/checks/{check}/delete", {}),
        (f"{base}/heartbeat", {"env": "prod", "enabled": "0"}),
    ]
    vic = web.signed_in("vic@example.com")
    assert vic.get(f"{base}?edit={check}").status_code == 403
    for path, data in writes:
        assert web.post(vic, path, data, page=base).status_code == 403, path
    eve = web.signed_in("eve@example.com")
    assert eve.get(base).status_code == 404
    for path, data in writes:
        assert web.post(eve, path, data).status_code == 404, path
    # A check id of another app answers 404 even to the app's admin.
    other = app_store.create_app(web.db, "Other app", ("prod",), team_id=web.team_id("Acme"))
    ann = web.signed_in("ann@example.com")
    assert web.post(ann, f"/apps/{other.id}/uptime/checks/{check}/delete", page=base).status_code == 404
    # Without the CSRF token the write is refused.
    assert ann.post(f"{base}/checks/{check}/delete").status_code == 403
    assert len(_checks(web)) == 1 and _checks(web)[0].paused is False
