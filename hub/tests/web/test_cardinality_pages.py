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
        r"<tr><td>(\w+)</td><td class=\"num\">([^<]*) \(<code>(\w+)</code>\)</td>"
        r"<td><time [^>]*>([^<]*)</time></td>",
        section,
    )
    assert [(kind, cap, setting) for kind, cap, setting, _ in rows] == [
        ("consumers", "2", "TALLYHUB_MAX_CONSUMERS_PER_APP"),
        ("envs", "1", "TALLYHUB_MAX_ENVS_PER_APP"),
    ]

    def shown(epoch: float) -> str:  # the dashboard's one time format: "2 Dec 03:53 UTC"
        moment = time.gmtime(epoch)
        return f"{moment.tm_mday} {time.strftime('%b %H:%M', moment)} UTC"

    assert rows[0][3] in (shown(before), shown(time.time()))
    assert "(other consumers)" in section and "(other)" in section

    consumers = client.get(f"/apps/{app.id}/consumers?period=24h").text
    assert "(other consumers)" in consumers
    # The "other" env is a filter value like any env (clients can never send that name).
    other_env = client.get(f"/apps/{app.id}/traffic", params={"env": "(other)", "period": "24h"})
    assert other_env.status_code == 200
    assert client.post(f"/v2/{app.client_id}/(other)/sync", json=body).status_code in (400, 404, 422)


def _five_consumers(web: Any) -> tuple[Any, Any]:
    """Shop with consumers c0..c4 sending 5, 4, 3, 2, 1 requests (c4: errors); groups g0 (c0, c1), g1 (c2)."""
    web.user("ann@example.com", "Acme", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    client = signed_in(web, "ann@example.com")
    entries = [request_entry("GET", "/items", 200, 5 - i, 20, f"c{i}") for i in range(4)]
    entries.append(request_entry("GET", "/items", 500, 1, 20, "c4"))
    named = [{"identifier": f"c{i}", "name": None, "group": "g0" if i < 2 else "g1"} for i in range(3)]
    body = sync_body(INSTANCE, requests=entries, consumers=named)
    assert client.post(f"/v2/{app.client_id}/prod/sync", json=body).status_code == 202
    return app, client


def _identifiers(page: str) -> list[str]:
    return re.findall(r"consumers/detail\?consumer=(c\d)", page)


def test_consumer_and_group_lists_page_and_sort_on_the_server(web: Any) -> None:
    app, client = _five_consumers(web)
    base = f"/apps/{app.id}/consumers"
    first = client.get(base, params={"limit": "2"}).text
    assert _identifiers(first) == ["c0", "c1"]
    assert "1–2 of 5 consumers" in first and 'rel="next"' in first and 'rel="prev"' not in first
    last = client.get(base, params={"limit": "2", "offset": "4"}).text
    assert _identifiers(last) == ["c4"] and 'rel="prev"' in last and 'rel="next"' not in last
    by_errors = client.get(base, params={"sort": "errors", "limit": "1"}).text
    assert _identifiers(by_errors) == ["c4"]
    ascending = client.get(base, params={"sort": "requests", "dir": "asc"}).text
    assert _identifiers(ascending) == ["c4", "c3", "c2", "c1", "c0"]
    for bad in ({"sort": "password"}, {"limit": "0"}, {"offset": "-1"}, {"dir": "up"}, {"limit": "x"}):
        response = client.get(base, params=bad)
        assert response.status_code == 400 and next(iter(bad)) in response.text, bad

    groups = client.get(f"{base}/groups", params={"sort": "consumers", "limit": "1"}).text
    assert re.findall(r"group=(g\d)", groups)[:1] == ["g0"] and "1–1 of 2 groups" in groups
    groups = client.get(f"{base}/groups", params={"sort": "name", "dir": "desc"}).text
    assert re.findall(r"<td><a [^>]*group=(g\d)", groups) == ["g1", "g0"]


def test_the_read_api_pages_consumers_endpoints_and_errors(web: Any) -> None:
    from tallyhub.accounts.tokens import create_token

    app, client = _five_consumers(web)
    client.headers["Authorization"] = f"Bearer {create_token(web.db, 'tests')}"
    url = f"/api/v1/apps/{app.id}/consumers"
    everyone = client.get(url)
    assert [c["identifier"] for c in everyone.json()] == ["c0", "c1", "c2", "c3", "c4"]  # default unchanged
    assert everyone.headers["X-Total-Count"] == "5"
    page = client.get(url, params={"limit": 2, "offset": 1, "sort": "identifier", "dir": "desc"})
    assert [c["identifier"] for c in page.json()] == ["c3", "c2"] and page.headers["X-Total-Count"] == "5"
    assert client.get(url, params={"sort": "secret"}).status_code == 422
    assert client.get(url, params={"limit": 0}).status_code == 422
    endpoints = client.get(f"/api/v1/apps/{app.id}/endpoints", params={"sort": "requests", "limit": 1})
    assert [e["path"] for e in endpoints.json()] == ["/items"] and endpoints.headers["X-Total-Count"] == "1"
    errors = client.get(f"/api/v1/apps/{app.id}/errors", params={"limit": 1})
    assert errors.status_code == 200 and errors.headers["X-Total-Count"] == "0"
