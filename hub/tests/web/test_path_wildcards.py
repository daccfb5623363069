"""Wildcard path filters (`/items/*`, `/v1/**`) on the dashboard's pages and in the read API (both engines).

Traffic goes in through real Hub v2 ingestion; every figure checked is recomputed here from what was sent,
with the pattern matched by a small reference matcher written for the test (a regex over the template).
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.paths import InvalidPattern, compile_pattern, path_key, pattern_matches
from tallyhub.storage import apps as app_store

from tests.support.syncs import request_entry, startup_body, sync_body

INSTANCE = str(uuid.uuid4())
# (method, route as the framework spells it, status, count, ms)
SENT = [
    ("GET", "/v1/items/<int:id>", 200, 17, 30),
    ("GET", "/v1/items/<int:id>", 404, 4, 20),
    ("GET", "/v1/items/<int:id>/reviews", 200, 6, 80),
    ("POST", "/v1/orders", 201, 9, 120),
    ("POST", "/v1/orders", 500, 2, 900),
    ("GET", "/v2/items/{id}", 200, 5, 40),
    ("GET", "/v2/users/:user", 503, 3, 10),
    ("GET", "/files/*", 200, 7, 10),  # an Express wildcard route
    ("GET", "/healthz", 200, 11, 10),
]
PATTERNS = [
    "/v1/**",
    "/v1/items/*",
    "/*/items/*",
    "/**/reviews",
    "/v*/users/*",
    "/files/*",
    "/**",
    "/nothing/*",
]


def reference_match(pattern: str, route: str) -> bool:
    """The documented syntax as one regex over the route's segments (parameters spelled {} first)."""
    key = re.sub(r"<[^>]+>|\{[^}]+\}|(?<=/):\w+|(?<=/)\*\w*", "{}", route)
    regex = ""
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            regex += "(/[^/]*)*"
        else:
            literal = re.sub(r"<[^>]+>|\{[^}]+\}|^:\w+$", "{}", segment)
            regex += "/" + "[^/]*".join(re.escape(p) for p in literal.split("*"))
    return re.fullmatch(regex, key) is not None


def expected(pattern: str, method: str | None = None) -> dict[str, int]:
    rows = [s for s in SENT if reference_match(pattern, s[1]) and method in (None, s[0])]
    return {
        "requests": sum(n for *_, n, _ in rows),
        "4xx": sum(n for _, _, st, n, _ in rows if 400 <= st < 500),
        "5xx": sum(n for _, _, st, n, _ in rows if st >= 500),
        "endpoints": len({(m, path_key(p)) for m, p, *_ in rows}),
    }


@pytest.fixture
def shop(web: Any) -> dict[str, Any]:
    web.user("ann@example.com", "Acme", "admin")
    web.user("eve@example.com", "Other", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    client = web.client()
    routes = sorted({(m, p) for m, p, *_ in SENT})
    sent = client.post(f"/v2/{app.client_id}/prod/startup", json=startup_body(INSTANCE, routes))
    assert sent.status_code == 202, sent.text
    entries = [request_entry(m, p, s, n, ms, "alice") for m, p, s, n, ms in SENT]
    sent = client.post(f"/v2/{app.client_id}/prod/sync", json=sync_body(INSTANCE, requests=entries))
    assert sent.status_code == 202, sent.text
    with web.db.write() as conn:
        token = create_team_token(conn, web.team_id("Acme"), "reader", read_only=True)
    api = web.client()
    api.headers["Authorization"] = f"Bearer {token}"
    return {"id": app.id, "api": api}


def _stats(page: str) -> dict[str, str]:
    pairs = re.findall(r'<span class="label">([^<]*)</span><span class="value">([^<]*)</span>', page)
    return {html.unescape(k): html.unescape(v) for k, v in pairs}


def _page(client: Any, url: str, **params: str) -> str:
    response = client.get(url, params=params)
    assert response.status_code == 200, (url, params, response.text[:400])
    return str(response.text)


def test_the_reference_matcher_agrees_with_the_hubs() -> None:
    for pattern in [*PATTERNS, "/v1/items/<id>/*", "/v1/items/:id", "/v1/it*s/{x}/**"]:
        compiled = compile_pattern(pattern)
        for _, route, *_ in SENT:
            assert pattern_matches(compiled, path_key(route)) == reference_match(pattern, route), (
                pattern,
                route,
            )
    # Every pattern of the test selects something different, so a filter ignored would show.
    assert len({tuple(sorted(expected(p).items())) for p in PATTERNS}) == len(PATTERNS)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pages_show_the_figures_of_the_matching_endpoints(
    web: Any, shop: dict[str, Any], pattern: str
) -> None:
    ann = web.signed_in("ann@example.com")
    want = expected(pattern)
    base = f"/apps/{shop['id']}"
    assert _stats(_page(ann, f"{base}/traffic", path=pattern))["Requests"] == str(want["requests"])
    errors = _stats(_page(ann, f"{base}/errors", path=pattern))
    assert (errors["Client errors (4xx)"], errors["Server errors (5xx)"]) == (
        str(want["4xx"]),
        str(want["5xx"]),
    )
    listed = _page(ann, f"{base}/endpoints", path=pattern)
    rows = re.findall(r'endpoints/detail\?[^"]*"><code>(\w+) ([^<]+)</code>', listed)
    assert len({(m, path_key(html.unescape(p))) for m, p in rows}) == want["endpoints"], rows
    # The consumer's page narrows by the pattern too (with a method).
    detail = _page(ann, f"{base}/consumers/detail", consumer="alice", method="GET", path=pattern)
    assert _stats(detail)["Requests"] == str(expected(pattern, "GET")["requests"])


@pytest.mark.parametrize("pattern", PATTERNS)
def test_api_figures_of_the_matching_endpoints(shop: dict[str, Any], pattern: str) -> None:
    api, want = shop["api"], expected(pattern)
    traffic = api.get(f"/api/v1/apps/{shop['id']}/traffic", params={"path": pattern})
    assert traffic.status_code == 200, traffic.text
    totals = traffic.json()["totals"]
    assert (totals["requests"], totals["requests_4xx"], totals["requests_5xx"]) == (
        want["requests"],
        want["4xx"],
        want["5xx"],
    )
    endpoints = api.get(f"/api/v1/apps/{shop['id']}/endpoints", params={"path": pattern}).json()
    assert sum(e["requests"] for e in endpoints) == want["requests"]
    with_method = api.get(f"/api/v1/apps/{shop['id']}/traffic", params={"path": pattern, "method": "post"})
    assert with_method.json()["totals"]["requests"] == expected(pattern, "POST")["requests"]


BAD = {
    "v1/**": "starts with /",
    "/v1//*": "empty segments",
    "/v1/**x": "whole segments",
    "/***": "whole segments",
}


@pytest.mark.parametrize("pattern", sorted(BAD))
def test_invalid_patterns_are_refused_naming_the_problem(
    web: Any, shop: dict[str, Any], pattern: str
) -> None:
    with pytest.raises(InvalidPattern, match=BAD[pattern]):
        compile_pattern(pattern)
    response = shop["api"].get(f"/api/v1/apps/{shop['id']}/traffic", params={"path": pattern})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "path"] and BAD[pattern] in error["msg"]
    page = web.signed_in("ann@example.com").get(f"/apps/{shop['id']}/traffic", params={"path": pattern})
    assert page.status_code == 400 and BAD[pattern] in html.unescape(page.text)


def test_another_teams_token_reads_nothing(web: Any, shop: dict[str, Any]) -> None:
    with web.db.write() as conn:
        token = create_team_token(conn, web.team_id("Other"), "theirs")
    response = web.client().get(
        f"/api/v1/apps/{shop['id']}/traffic",
        params={"path": "/**"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404


def test_an_unparsed_bad_pattern_matches_exactly_instead_of_failing(web: Any, shop: dict[str, Any]) -> None:
    """Alert rules hand their endpoint to the selection without analytics.query's check."""
    from tallyhub.analytics.query import Filters
    from tallyhub.analytics.selection import resolve

    with web.db.read() as conn:
        assert resolve(conn, shop["id"], Filters(path="/v1//*")).endpoint_ids == ()
        found = resolve(conn, shop["id"], Filters(path="/v1/**")).endpoint_ids
    assert found is not None and len(found) == expected("/v1/**")["endpoints"]
