"""Every dashboard route, given ids no table can hold, answers 4xx (never a database error).

On PostgreSQL an id beyond INTEGER makes the query itself fail, so each id in a path must be checked
before it reaches the database: for the app or team in the path, and for the rule, check, channel,
member, token or invite below it.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route

from tests.support.web import Web

HUGE = str(2**40)


def _dashboard_routes(client: Any) -> list[tuple[str, str]]:
    """(method, path) of every dashboard route with an id in its path, through included routers."""
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI keeps included routers as such
                walk(route.original_router.routes)
            elif isinstance(route, Route) and "_id}" in route.path and not route.path.startswith("/api/"):
                found.extend((method, route.path) for method in sorted((route.methods or set()) - {"HEAD"}))

    walk(client.app.routes)
    return found


def _walk(web: Web, app_id: str, team_id: str) -> list[tuple[str, str, int]]:
    """Status of every route with `app_id`/`team_id` as given and every other id HUGE."""
    client = web.signed_in("admin@acme.test")
    token = web.csrf(client.get("/apps").text)
    routes = _dashboard_routes(client)
    assert len(routes) > 30  # the walk must see the dashboard's routes
    answers = []
    for method, path in routes:
        url = path.replace("{app_id}", app_id).replace("{team_id}", team_id)
        url = re.sub(r"\{[a-z_]+_id\}", HUGE, url)
        response = client.request(method, url, data={"csrf_token": token} if method == "POST" else None)
        answers.append((method, path, response.status_code))
    return answers


def test_huge_app_and_team_ids_are_not_found(web: Web) -> None:
    web.user("admin@acme.test")
    answers = _walk(web, HUGE, HUGE)
    assert [a for a in answers if not 400 <= a[2] < 500] == []


def test_huge_ids_below_a_real_app_or_team_are_client_errors(web: Web) -> None:
    web.user("admin@acme.test")
    client = web.signed_in("admin@acme.test")
    team_id = str(web.team_id("Acme"))
    created = web.post(
        client, "/apps/new", {"team_id": team_id, "name": "Shop", "framework": "flask", "envs": "prod"}
    )
    assert created.status_code == 303, created.text[:300]
    app_id = created.headers["location"].split("/")[2]
    answers = _walk(web, app_id, team_id)
    assert [a for a in answers if a[2] >= 500] == []
