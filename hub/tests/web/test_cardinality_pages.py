"""Cardinality on the dashboard: the settings page tells which cap was hit and since when, the "other"
buckets show like any consumer, endpoint or env, and the lists page and sort on the server."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from tallyhub.storage import apps as app_store

from tests.support.syncs import request_entry, sync_body
from tests.support.web import csrf_of

INSTANCE = str(uuid.uuid4())


def signed_in(web: Any, email: str, **overrides: Any) -> Any:
    """A client of a hub with these settings, signed in through the login form."""
    client = web.client(**overrides)
    page = client.get("/login")
    response = client.post(
        "/login", data={"email": email, "password": web.password, "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303, response.text
    return client


def test_the_settings_page_says_which_cap_was_hit_and_since_when(web: Any) -> None:
    web.user("ann@example.com", "Acme", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    client = signed_in(web, "ann@example.com", max_consumers_per_app=2, max_envs_per_app=1)
    page = client.get(f"/apps/{app.id}/settings")
    assert "No cap hit" in page.text
    before = time.time()
    body = sync_body(
        INSTANCE, requests=[request_entry("GET", "/items", 200, 3, 20, f"c{i}") for i in range(4)]
    )
    assert client.post(f"/v2/{app.client_id}/prod/sync", json=body).status_code == 202
    body = sync_body(INSTANCE, requests=[request_entry("GET", "/items", 200, 5, 20, "c0")])
    assert client.post(f"/v2/{app.client_id}/staging/sync", json=body).status_code == 202

    page = client.get(f"/apps/{app.id}/settings").text
    section = page[page.index('id="limits"') :].split("</section>")[0]
    rows = re.findall(
        r"<tr><td>(\w+)</td><td class=\"num\">([^<]*) \(<code>(\w+)</code>\)</td><td>([^<]*)</td>", section
    )
    assert [(kind, cap, setting) for kind, cap, setting, _ in rows] == [
        ("consumers", "2", "TALLYHUB_MAX_CONSUMERS_PER_APP"),
        ("envs", "1", "TALLYHUB_MAX_ENVS_PER_APP"),
    ]
    since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(before))
    assert rows[0][3] in (since, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time())))
    assert "(other consumers)" in section and "(other)" in section

    consumers = client.get(f"/apps/{app.id}/consumers?period=24h").text
    assert "(other consumers)" in consumers
    # The "other" env is a filter value like any env (clients can never send that name).
    other_env = client.get(f"/apps/{app.id}/traffic", params={"env": "(other)", "period": "24h"})
    assert other_env.status_code == 200
    assert client.post(f"/v2/{app.client_id}/(other)/sync", json=body).status_code in (400, 404, 422)
