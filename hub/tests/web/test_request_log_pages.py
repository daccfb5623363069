"""The request-log explorer's pages for every role (both engines): list, filters kept in links, detail
(bodies, masked/too large, traceback, app logs, waterfall), the CSV download, bad filters."""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import time
from typing import Any

import pytest
from tallyhub.ingest import batch
from tallyhub.storage import apps as app_store

from tests.support.request_logs import b64, sample_log, store_logs
from tests.support.syncs import sync_body

N = 40
INSTANCE = "6f1c7a52-0000-4000-8000-000000000001"


@pytest.fixture
def shop(web: Any) -> dict[str, Any]:
    """Acme (admin ann, member mia, viewer vic) owns Shop with N logged requests; eve is in Other."""
    for email, team, role in (
        ("ann@example.com", "Acme", "admin"),
        ("mia@example.com", "Acme", "member"),
        ("vic@example.com", "Acme", "viewer"),
        ("eve@example.com", "Other", "admin"),
    ):
        web.user(email, team, role)
    app = app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))
    t0 = time.time() - 3600
    logs = [sample_log(i, t0) for i in range(N)]
    logs[1].request_body = b64("<masked>")
    logs[1].response_body = b64("<body too large>")
    store_logs(web.db, app.id, "prod", logs, time.time())
    return {"app": app, "logs": logs, "t0": t0}


def _body(encoded: str | None) -> str:
    return base64.b64decode(encoded or "").decode()


def _ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/apps/\d+/request-logs/(\d+)[?"]', page)][::2]


@pytest.mark.parametrize("email", ["ann@example.com", "mia@example.com", "vic@example.com"])
def test_every_role_of_the_team_sees_the_explorer(web: Any, shop: dict[str, Any], email: str) -> None:
    client = web.signed_in(email)
    app_id = shop["app"].id
    page = client.get(f"/apps/{app_id}/request-logs")
    assert page.status_code == 200, page.text
    assert len(_ids(page.text)) == N and "Request logs" in page.text
    first = client.get(f"/apps/{app_id}/request-logs/{_ids(page.text)[0]}")
    assert first.status_code == 200
    exported = client.get(f"/apps/{app_id}/request-logs.csv")
    assert exported.status_code == 200 and len(list(csv.DictReader(io.StringIO(exported.text)))) == N


def test_other_teams_and_signed_out_visitors_see_nothing(web: Any, shop: dict[str, Any]) -> None:
    app_id = shop["app"].id
    eve = web.signed_in("eve@example.com")
    for path in ("/request-logs", "/request-logs/1", "/request-logs.csv"):
        assert eve.get(f"/apps/{app_id}{path}").status_code == 404, path
        assert web.client().get(f"/apps/{app_id}{path}").status_code == 303, path


def test_filters_narrow_the_list_and_stay_in_every_link(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    app_id = shop["app"].id
    page = client.get(f"/apps/{app_id}/request-logs", params={"request_body": "needle3", "method": "POST"})
    expected = [log for log in shop["logs"] if log.method == "POST" and "Needle3" in _body(log.request_body)]
    assert len(_ids(page.text)) == len(expected) > 0
    assert 'value="needle3"' in page.text
    assert "request_body=needle3" in html.unescape(page.text)  # detail and CSV links keep the filter
    exported = client.get(
        f"/apps/{app_id}/request-logs.csv", params={"request_body": "needle3", "method": "POST"}
    )
    assert len(list(csv.DictReader(io.StringIO(exported.text)))) == len(expected)
    paged = client.get(
        f"/apps/{app_id}/request-logs",
        params={"before": _ids(client.get(f"/apps/{app_id}/request-logs").text)[-1]},
    )
    assert "No logged requests" in paged.text  # 40 rows fit one page of 50
    for bad in ({"trace_id": "nope"}, {"response_time_min": "x"}, {"before": "-3"}):
        response = client.get(f"/apps/{app_id}/request-logs", params=bad)
        assert response.status_code == 400 and next(iter(bad)) in response.text, bad


def test_detail_shows_bodies_exception_app_logs_and_waterfall(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    app_id = shop["app"].id
    listed = client.get(f"/apps/{app_id}/request-logs").text
    ids = list(reversed(_ids(listed)))  # oldest first: ids[i] is sample i
    detail = html.unescape(client.get(f"/apps/{app_id}/request-logs/{ids[0]}").text)
    assert '"note": "Needle0_50%"' in detail  # pretty-printed JSON
    assert "X-Req" in detail and "charging order 0" in detail and "shop.pay" in detail
    assert "db.query" in detail and "<rect" in detail and '"db.statement": "SELECT 1"' in detail
    assert f"/apps/{app_id}/endpoints/detail" in detail and "/consumers/detail" in detail
    assert ">masked<" in client.get(f"/apps/{app_id}/request-logs/{ids[1]}").text
    assert ">too large<" in client.get(f"/apps/{app_id}/request-logs/{ids[1]}").text
    failed = html.unescape(client.get(f"/apps/{app_id}/request-logs/{ids[3]}").text)
    assert "Binary, 9 B." in failed  # sample 3's response body is not UTF-8
    assert "ValueError: card declined" in failed and 'File "shop.py", line 9' in failed
    other = app_store.create_app(web.db, "Theirs", ("prod",), team_id=web.team_id("Other"))
    store_logs(
        web.db,
        other.id,
        "prod",
        [batch.RequestLog("00000000-0000-4000-8000-0000000000ff", time.time(), "GET", None, "/x", 200, 0.1)],
        time.time(),
    )
    assert client.get(f"/apps/{app_id}/request-logs/{max(ids) + 1}").status_code == 404  # another app's log


def test_a_server_error_links_to_its_logged_requests(web: Any, shop: dict[str, Any]) -> None:
    client = web.signed_in("vic@example.com")
    app = shop["app"]
    error = {
        "consumer": None,
        "method": "POST",
        "path": "/pay",
        "type": "builtins.ValueError",
        "msg": "card declined",
        "traceback": "Traceback ...",
        "sentry_event_id": None,
        "error_count": 1,
    }
    sent = client.post(f"/v2/{app.client_id}/prod/sync", json=sync_body(INSTANCE, server_errors=[error]))
    assert sent.status_code == 202, sent.text
    errors_page = html.unescape(client.get(f"/apps/{app.id}/errors").text)
    link = re.search(r'href="(/apps/\d+/request-logs\?[^"]*has_exception=true)"', errors_page)
    assert link is not None
    logged = client.get(link.group(1)).text
    failed = [log for log in shop["logs"] if log.exception is not None and log.method == "POST"]
    assert len(_ids(logged)) == len(failed) > 0
