"""An endpoint's top consumers (its page and the read API filtered by endpoint) equal a recomputation from
the traffic sent through Hub v2 ingestion, on both engines: busiest first, ties by identifier, errors too.

The traffic spans three hours, the older part rolled up (hour and day rows beside minute rows not yet
rolled), with 30 consumers over two endpoints and requests without a consumer; counts are small, so
ties are many.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from tallyhub.analytics import consumers, query, selection
from tallyhub.analytics.paging import Page
from tallyhub.metrics import rollup
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store

from tests.support.syncs import request_entry, startup_body, sync_body

INSTANCE = str(uuid.uuid4())
PATHS = [("GET", "/items/<int:id>"), ("POST", "/items")]
TOP = 10


def _traffic(seed: int) -> list[tuple[int, str, str, int, int, str | None]]:
    """(minutes ago, method, path, status, count, consumer) for five syncs over the last three hours."""
    rnd = random.Random(seed)
    sent = []
    for ago in (170, 130, 75, 40, 5):
        for c in rnd.sample(range(30), 14):
            for status in rnd.sample((200, 201, 404, 500), rnd.randint(1, 2)):
                method, path = rnd.choice(PATHS)
                sent.append((ago, method, path, status, rnd.randint(1, 4), f"c{c:02d}" if c % 7 else None))
    return sent


@pytest.fixture(params=[1, 2])
def shop(web: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    """An app with _traffic(seed) synced in, rolled up to an hour ago, and a signed-in admin."""
    web.user("ann@example.com", "Acme", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    client = web.client()
    sent = client.post(f"/v2/{app.client_id}/prod/startup", json=startup_body(INSTANCE, PATHS))
    assert sent.status_code == 202, sent.text
    traffic = _traffic(request.param)
    now = time.time()
    for ago in sorted({t[0] for t in traffic}, reverse=True):
        entries = [request_entry(m, p, s, n, 20, c) for a, m, p, s, n, c in traffic if a == ago]
        body = sync_body(INSTANCE, now - ago * 60, requests=entries)
        sent = client.post(f"/v2/{app.client_id}/prod/sync", json=body)
        assert sent.status_code == 202, sent.text
    rollup.run(web.db, load_settings(environ={}), now - 3600)
    return {"id": app.id, "client": web.signed_in("ann@example.com"), "traffic": traffic}


def _expected(
    traffic: list[Any], method: str, path: str, by: str, limit: int | None = TOP
) -> list[tuple[str, int, int]]:
    """(identifier, requests, errors) of the endpoint's top consumers by `by`, recomputed from the traffic."""
    requests: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for _, m, p, status, n, consumer in traffic:
        if (m, p) == (method, path) and consumer:
            requests[consumer] += n
            errors[consumer] += n if status >= 400 else 0
    key = requests if by == "requests" else errors
    ranked = sorted(requests, key=lambda c: (-key[c], c))
    return [(c, requests[c], errors[c]) for c in ranked if key[c]][:limit]


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_the_endpoint_page_lists_its_top_consumers_exactly(
    shop: dict[str, Any], method: str, path: str
) -> None:
    response = shop["client"].get(
        f"/apps/{shop['id']}/endpoints/detail", params={"method": method, "path": path, "period": "24h"}
    )
    assert response.status_code == 200, response.text[:300]
    table = response.text.split('id="top-consumers"')[1].split("</table>")[0]
    row = r'title="(c\d+)">[^<]+</a></td><td class="num">(\d+)</td><td class="num">(\d+)</td>'
    shown = [(c, int(n), int(e)) for c, n, e in re.findall(row, table)]
    expected = _expected(shop["traffic"], method, path, "requests")
    assert len(expected) == TOP  # more consumers called it than the page shows
    assert shown == expected


@pytest.mark.parametrize("by", ["requests", "errors"])
@pytest.mark.parametrize("status", [None, "4xx"])
def test_consumers_filtered_by_endpoint_rank_exactly(
    shop: dict[str, Any], web: Any, by: str, status: str | None
) -> None:
    """The analytics the page reads (list_consumers, as the endpoint and status filters give): its top
    pages, and past the consumers with a count the others by identifier."""
    method, path = PATHS[0]
    traffic = [t for t in shop["traffic"] if status is None or 400 <= t[3] <= 499]
    with web.db.read() as conn:
        asked = query.parse({"method": method, "path": path, "status": status}, time.time(), apdex_t=500)
        resolved, tr = selection.resolve(conn, shop["id"], asked.filters), asked.range
        pages = [
            consumers.list_consumers(conn, shop["id"], resolved, tr, 500, Page(TOP, offset, by, True), False)
            for offset in (0, TOP, 2 * TOP)
        ]
    listed = [
        (c["identifier"], c["requests"], c["requests_4xx"] + c["requests_5xx"]) for p, _ in pages for c in p
    ]
    expected = _expected(traffic, method, path, by, limit=None)
    assert 0 < len(expected) < len(listed)
    assert listed[: len(expected)] == expected
    rest = [c for c, *_ in listed[len(expected) :]]
    assert rest == sorted(rest) and not set(rest) & {c for c, *_ in expected}
