"""Consumer and group lists of a capped app with many generated consumers: every page, in every order the
lists offer, holds exactly the consumers and figures the raw traffic gives, the "other" bucket included.

Traffic comes in three syncs (two hours ago, rolled up into hour/day rows; a minute ago, left as minute
rows), so the sorted totals add rolled and unrolled rows; the cap puts the last consumers in "other".
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import unquote_plus

from tallyhub.accounts.tokens import create_token
from tallyhub.metrics import rollup
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.caps import OTHER_CONSUMER

from tests.support.syncs import request_entry, sync_body
from tests.support.web import csrf_of

CAP = 60
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


def _traffic(web: Any) -> tuple[Any, Any, Counter[str], Counter[str], dict[str, str]]:
    """Shop with 75 consumers (cap 60): returns app, client, requests and errors per listed identifier
    (those past the cap summed under OTHER_CONSUMER) and each named consumer's group."""
    web.user("ann@example.com", "Acme", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    client = signed_in(web, "ann@example.com", max_consumers_per_app=CAP)
    rnd = random.Random(10)
    requests: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    groups: dict[str, str] = {}
    now = time.time()
    # Consumers c00..c59 fill the cap in the first two syncs; c60..c74 arrive in the last one, past it.
    waves = [(now - 2 * 3600, range(0, 40)), (now - 2 * 3600 + 60, range(20, 60)), (now - 60, range(0, 75))]
    for n, (at, ids) in enumerate(waves):
        entries = []
        for c in ids:
            identifier = f"c{c:02d}"
            listed = identifier if c < CAP else OTHER_CONSUMER
            # Few distinct counts, so that sorting by them has ties broken by identifier.
            ok, bad = rnd.choice((1, 2, 3)), rnd.choice((0, 0, 1, 2))
            entries.append(request_entry("GET", "/items", 200, ok, 20, identifier))
            if bad:
                entries.append(request_entry("GET", "/items", 500 if c % 2 else 404, bad, 20, identifier))
            requests[listed] += ok + bad
            errors[listed] += bad
        named = [{"identifier": f"c{c:02d}", "name": None, "group": f"g{c % 7}"} for c in ids if c < CAP]
        groups.update({f"c{c:02d}": f"g{c % 7}" for c in ids if c < CAP})
        body = sync_body(INSTANCE, timestamp=at, requests=entries, consumers=named)
        assert client.post(f"/v2/{app.client_id}/prod/sync", json=body).status_code == 202
        if n == 1:
            rollup.run(web.db, load_settings(environ={}), now)
    return app, client, requests, errors, groups


def _walk(client: Any, url: str, limit: int, **params: Any) -> tuple[list[dict[str, Any]], set[str]]:
    """Every item of the paged read-API list, page after page, and the totals the pages reported."""
    items: list[dict[str, Any]] = []
    totals = set()
    offset = 0
    while True:
        page = client.get(url, params={"period": "24h", "limit": limit, "offset": offset, **params})
        assert page.status_code == 200, page.text
        totals.add(page.headers["X-Total-Count"])
        items += page.json()
        offset += limit
        if offset >= int(page.headers["X-Total-Count"]):
            return items, totals


def test_consumer_pages_in_every_order_match_the_raw_traffic(web: Any) -> None:
    app, client, requests, errors, _ = _traffic(web)
    client.headers["Authorization"] = f"Bearer {create_token(web.db, 'tests')}"
    listed = sorted(requests)
    assert len(listed) == CAP + 1 and OTHER_CONSUMER in listed
    url = f"/api/v1/apps/{app.id}/consumers"
    expected = {
        "requests": sorted(listed, key=lambda c: (-requests[c], c)),
        "errors": sorted(listed, key=lambda c: (-errors[c], c)),
        "identifier": listed,
    }
    for sort, order in expected.items():
        for direction, wanted in (("desc", order if sort != "identifier" else order[::-1]), ("asc", None)):
            if wanted is None:  # ascending: the key ascending, ties still by identifier
                key = {"requests": requests, "errors": errors}.get(sort)
                wanted = sorted(listed, key=lambda c, k=key: ((k[c] if k is not None else 0), c))
            items, totals = _walk(client, url, 7, sort=sort, dir=direction)
            assert totals == {str(len(listed))}, (sort, direction)
            assert [c["identifier"] for c in items] == wanted, (sort, direction)
            assert {c["identifier"]: c["requests"] for c in items} == dict(requests)
            assert {c["identifier"]: c["requests_4xx"] + c["requests_5xx"] for c in items} == dict(errors)


def test_dashboard_consumer_pages_and_groups_match_the_raw_traffic(web: Any) -> None:
    app, client, requests, errors, groups = _traffic(web)
    by_requests = sorted(requests, key=lambda c: (-requests[c], c))
    seen: list[str] = []
    for offset in range(0, len(by_requests), 25):
        params = {"period": "24h", "limit": 25, "offset": offset}
        page = client.get(f"/apps/{app.id}/consumers", params=params)
        assert page.status_code == 200
        shown = f"{offset + 1}–{min(offset + 25, len(by_requests))} of {len(by_requests)} consumers"
        assert shown in page.text
        seen += re.findall(r"consumers/detail\?consumer=([^\"&]+)", page.text)
    # The detail links are URL-encoded; "(other consumers)" is the only identifier that needs it.
    assert [unquote_plus(c) for c in dict.fromkeys(seen)] == by_requests

    per_group: dict[str, list[int]] = {}
    for identifier, group in groups.items():
        totals = per_group.setdefault(group, [0, 0, 0])
        totals[0] += 1
        totals[1] += requests[identifier]
        totals[2] += errors[identifier]
    wanted = sorted(per_group, key=lambda g: (-per_group[g][1], g))
    names: list[str] = []
    for offset in (0, 3, 6):
        page = client.get(
            f"/apps/{app.id}/consumers/groups", params={"period": "24h", "limit": 3, "offset": offset}
        ).text
        names += re.findall(r"<td><a [^>]*group=(g\d)", page)
    assert names == wanted
