"""Endpoint settings in the dashboard: who may set them, bad input, and the pages' figures recomputed.

Traffic is sent through real Hub v2 ingestion; every figure checked is computed here from what was sent.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from typing import Any

import pytest
from tallyhub.storage import apps as app_store

from tests.support.syncs import request_entry, startup_body, sync_body

INSTANCE = str(uuid.uuid4())
ITEM = "/items/<int:id>"
# (method, path, status, count, ms): 50 requests of two endpoints.
SENT = [
    ("GET", ITEM, 200, 20, 30),
    ("GET", ITEM, 404, 10, 200),
    ("GET", ITEM, 410, 3, 60),
    ("POST", "/pay", 201, 11, 40),
    ("POST", "/pay", 402, 2, 90),
    ("POST", "/pay", 500, 4, 1200),
]


@pytest.fixture
def shop(web: Any) -> dict[str, Any]:
    """Acme (admin ann, member mia, viewer vic) owns Shop with SENT in prod; eve is in Other."""
    web.user("ann@example.com", "Acme", "admin")
    web.user("mia@example.com", "Acme", "member")
    web.user("vic@example.com", "Acme", "viewer")
    web.user("eve@example.com", "Other", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))
    client = web.client()
    sent = client.post(
        f"/v2/{app.client_id}/prod/startup", json=startup_body(INSTANCE, [("GET", ITEM), ("POST", "/pay")])
    )
    assert sent.status_code == 202, sent.text
    entries = [request_entry(m, p, s, n, ms, "alice") for m, p, s, n, ms in SENT]
    sent = client.post(f"/v2/{app.client_id}/prod/sync", json=sync_body(INSTANCE, requests=entries))
    assert sent.status_code == 202, sent.text
    return {"app": app, "id": app.id}


def by_hand(
    sent: list[tuple[str, str, int, int, int]],
    expected: dict[str, set[int]],
    own_t: dict[str, int],
    app_t: int,
) -> dict[str, Any]:
    """Error counts, error rate and Apdex from what was sent (keys of the dicts: "METHOD path")."""
    total = sum(n for *_, n, _ in sent)
    c4 = c5 = points = 0
    for method, path, status, n, ms in sent:
        name = f"{method} {path}"
        if status >= 400 and status not in expected.get(name, set()):
            c4 += n if status < 500 else 0
            c5 += n if status >= 500 else 0
        t = own_t.get(name, app_t)
        upper = ms // 10 * 10 + 10
        points += n * (2 if upper <= t else 1 if upper <= 4 * t else 0)
    return {"4xx": c4, "5xx": c5, "error_rate": (c4 + c5) / total, "apdex": points / (2 * total)}


def _stats(page: str) -> dict[str, str]:
    pairs = re.findall(r'<span class="label">([^<]*)</span><span class="value">([^<]*)</span>', page)
    return {html.unescape(k): html.unescape(v) for k, v in pairs}


def _chart_sum(page: str, chart: str, label: str) -> float:
    found = dict(re.findall(r'id="chart-([\w-]+)" data-chart="([^"]*)"', page))
    data = json.loads(html.unescape(found[chart]))
    [series] = [s for s in data["series"] if s["label"] == label]
    return float(sum(v or 0 for v in series["values"]))


def _get(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text[:500])
    return str(response.text)


def _detail(app_id: int, method: str = "GET", path: str = ITEM) -> str:
    return f"/apps/{app_id}/endpoints/detail?method={method}&path={path}"


def _save(
    web: Any, client: Any, app_id: int, form: dict[str, str], method: str = "GET", path: str = ITEM
) -> Any:
    return web.post(
        client,
        f"/apps/{app_id}/endpoints/settings",
        {"method": method, "path": path, **form},
        page=_detail(app_id, method, path),
    )


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def test_expected_statuses_change_error_figures_on_every_page(web: Any, shop: dict[str, Any]) -> None:
    app_id = shop["id"]
    mia = web.signed_in("mia@example.com")
    before = by_hand(SENT, {}, {}, 500)
    errors_page = _get(mia, f"/apps/{app_id}/errors")
    assert _stats(errors_page)["Client errors (4xx)"] == str(before["4xx"])
    assert _stats(errors_page)["Error rate"] == _percent(before["error_rate"])
    saved = _save(web, mia, app_id, {"expected_statuses": "404, 410", "apdex_threshold_ms": ""})
    assert saved.status_code == 303
    assert _save(web, mia, app_id, {"expected_statuses": "402"}, "POST", "/pay").status_code == 303
    expected = {f"GET {ITEM}": {404, 410}, "POST /pay": {402}}
    after = by_hand(SENT, expected, {}, 500)
    assert after["error_rate"] < before["error_rate"]
    traffic = _get(mia, f"/apps/{app_id}/traffic")
    assert _stats(traffic)["Error rate"] == _percent(after["error_rate"])
    errors_page = _get(mia, f"/apps/{app_id}/errors")
    assert _stats(errors_page)["Client errors (4xx)"] == str(after["4xx"])
    assert _stats(errors_page)["Server errors (5xx)"] == str(after["5xx"])
    assert _stats(errors_page)["Error rate"] == _percent(after["error_rate"])
    assert _chart_sum(errors_page, "errors", "4xx") == after["4xx"]
    # The endpoint's page: its own figures, and what is expected, said in words.
    detail = _get(mia, _detail(app_id))
    mine = by_hand([s for s in SENT if s[0] == "GET"], expected, {}, 500)
    assert _stats(detail)["Error rate"] == _percent(mine["error_rate"])
    assert _stats(detail)["Expected errors (successes)"] == "13"
    assert "404, 410: counted as successes in error rates, error charts and alerts" in detail
    # Clearing them brings the figures back.
    assert _save(web, mia, app_id, {"expected_statuses": ""}).status_code == 303
    assert _save(web, mia, app_id, {"expected_statuses": ""}, "POST", "/pay").status_code == 303
    assert _stats(_get(mia, f"/apps/{app_id}/errors"))["Error rate"] == _percent(before["error_rate"])


def test_apdex_t_of_the_app_and_of_an_endpoint(web: Any, shop: dict[str, Any]) -> None:
    app_id = shop["id"]
    ann, mia = web.signed_in("ann@example.com"), web.signed_in("mia@example.com")
    performance = f"/apps/{app_id}/performance"
    assert (
        _stats(_get(mia, performance))["Apdex (T = 500 ms)"] == f"{by_hand(SENT, {}, {}, 500)['apdex']:.2f}"
    )
    settings = f"/apps/{app_id}/settings"
    assert web.post(ann, f"{settings}/apdex", {"apdex_threshold_ms": "50"}, page=settings).status_code == 303
    assert "In use: 50 ms (this app's)" in _get(ann, settings)
    app_t = by_hand(SENT, {}, {}, 50)["apdex"]
    assert _stats(_get(mia, performance))["Apdex (T = 50 ms)"] == f"{app_t:.2f}"
    assert _save(web, mia, app_id, {"apdex_threshold_ms": "300"}).status_code == 303
    own = by_hand(SENT, {}, {f"GET {ITEM}": 300}, 50)["apdex"]
    assert f"{own:.2f}" != f"{app_t:.2f}"
    assert _stats(_get(mia, performance))["Apdex (T = 50 ms)"] == f"{own:.2f}"
    detail = _get(mia, _detail(app_id))
    assert "300 ms (this endpoint's own)" in detail
    mine = by_hand([s for s in SENT if s[0] == "GET"], {}, {f"GET {ITEM}": 300}, 50)["apdex"]
    assert _stats(detail)["Apdex"] == f"{mine:.2f}"
    assert "50 ms (the app's)" in _get(mia, _detail(app_id, "POST", "/pay"))
    # Blank: back to the hub's setting.
    assert web.post(ann, f"{settings}/apdex", {"apdex_threshold_ms": ""}, page=settings).status_code == 303
    assert "In use: 500 ms (the hub" in _get(ann, settings)


@pytest.mark.parametrize(
    "form",
    [
        {"expected_statuses": "200"},
        {"expected_statuses": "999"},
        {"expected_statuses": "40x"},
        {"expected_statuses": "-404"},
        {"apdex_threshold_ms": "0"},
        {"apdex_threshold_ms": "-5"},
        {"apdex_threshold_ms": "1.5"},
        {"apdex_threshold_ms": "700000"},
    ],
)
def test_bad_input_is_400_naming_the_field_and_changes_nothing(
    web: Any, shop: dict[str, Any], form: dict[str, str]
) -> None:
    mia = web.signed_in("mia@example.com")
    response = _save(web, mia, shop["id"], {"expected_statuses": "", "apdex_threshold_ms": "", **form})
    assert response.status_code == 400, response.text[:300]
    field = "Expected statuses" if "expected_statuses" in form else "Apdex T"
    assert field in response.text
    detail = _get(mia, _detail(shop["id"]))
    assert '<dd class="expected-statuses">none</dd>' in detail and "(the app's)" in detail


def test_app_apdex_refuses_bad_values(web: Any, shop: dict[str, Any]) -> None:
    ann = web.signed_in("ann@example.com")
    settings = f"/apps/{shop['id']}/settings"
    for value in ("0", "-1", "2.5", "abc", "600001"):
        response = web.post(ann, f"{settings}/apdex", {"apdex_threshold_ms": value}, page=settings)
        assert response.status_code == 400, value
        assert "Apdex T" in response.text
    assert "In use: 500 ms" in _get(ann, settings)


def test_roles(web: Any, shop: dict[str, Any]) -> None:
    app_id = shop["id"]
    ann, mia, vic, eve = (web.signed_in(f"{n}@example.com") for n in ("ann", "mia", "vic", "eve"))
    # Members and admins see the form and may save; a viewer sees the settings only.
    assert "edit-endpoint" in _get(ann, _detail(app_id)) and "edit-endpoint" in _get(mia, _detail(app_id))
    viewer_page = _get(vic, _detail(app_id))
    assert "edit-endpoint" not in viewer_page and "Expected statuses" in viewer_page
    assert _save(web, ann, app_id, {"expected_statuses": "404"}).status_code == 303
    assert _save(web, mia, app_id, {"expected_statuses": "404, 410"}).status_code == 303
    form = {"method": "GET", "path": ITEM, "expected_statuses": "500"}
    assert web.post(vic, f"/apps/{app_id}/endpoints/settings", form).status_code == 403
    assert web.post(eve, f"/apps/{app_id}/endpoints/settings", form).status_code == 404
    assert mia.post(f"/apps/{app_id}/endpoints/settings", data=form).status_code == 403  # no CSRF token
    unknown = {**form, "path": "/nowhere"}
    assert web.post(mia, f"/apps/{app_id}/endpoints/settings", unknown).status_code == 404
    assert web.post(mia, f"/apps/{app_id}/endpoints/settings", {**form, "method": "G T"}).status_code == 400
    assert "404, 410: counted as successes" in _get(vic, _detail(app_id))
    # The app's T: admins only, as the rest of the app's settings.
    settings = f"/apps/{app_id}/settings"
    assert web.post(ann, f"{settings}/apdex", {"apdex_threshold_ms": "250"}, page=settings).status_code == 303
    for other, status in ((mia, 403), (vic, 403), (eve, 404)):
        assert web.post(other, f"{settings}/apdex", {"apdex_threshold_ms": "1"}).status_code == status
    assert "In use: 250 ms" in _get(ann, settings)


def test_exclude_and_hide_from_the_detail_page(web: Any, shop: dict[str, Any]) -> None:
    app_id, client_id = shop["id"], shop["app"].client_id
    ingest = web.client()
    probe = sync_body(INSTANCE, requests=[request_entry("GET", "/healthz", 200, 9, 10)])
    assert ingest.post(f"/v2/{client_id}/prod/sync", json=probe).status_code == 202
    mia = web.signed_in("mia@example.com")
    total = sum(n for *_, n, _ in SENT) + 9
    assert _stats(_get(mia, f"/apps/{app_id}/traffic"))["Requests"] == str(total)
    listing = _get(mia, f"/apps/{app_id}/endpoints")
    assert listing.count("suggest-exclusion") == 1  # /healthz only
    # Exclude the probe: later probes are not stored; its page stays, saying so.
    form = {"expected_statuses": "", "apdex_threshold_ms": "", "excluded": "on"}
    assert _save(web, mia, app_id, form, "GET", "/healthz").status_code == 303
    again = sync_body(INSTANCE, requests=[request_entry("GET", "/healthz", 200, 9, 10)])
    assert ingest.post(f"/v2/{client_id}/prod/sync", json=again).status_code == 202
    assert _stats(_get(mia, f"/apps/{app_id}/traffic"))["Requests"] == str(total)
    detail = _get(mia, _detail(app_id, "GET", "/healthz"))
    assert "excluded: its requests are no longer stored" in detail and _stats(detail)["Requests"] == "9"
    assert "suggest-exclusion" not in _get(mia, f"/apps/{app_id}/endpoints")
    # Hide it: gone from the list unless hidden ones are asked for; the figures do not change.
    form = {**form, "hidden": "on"}
    assert _save(web, mia, app_id, form, "GET", "/healthz").status_code == 303
    listing = _get(mia, f"/apps/{app_id}/endpoints")
    assert "/healthz" not in listing.split('id="all-endpoints"')[1]
    assert "1 hidden endpoint not listed" in listing
    shown = _get(mia, f"/apps/{app_id}/endpoints?hidden=show")
    assert "GET /healthz" in shown and '<span class="badge">hidden</span>' in shown
    assert "hidden=show&amp;sort=requests" in shown  # sorting keeps them shown
    assert _stats(_get(mia, f"/apps/{app_id}/traffic"))["Requests"] == str(total)
    # A viewer sees the flags but cannot change them.
    vic = web.signed_in("vic@example.com")
    assert "hidden from the endpoints list" in _get(vic, _detail(app_id, "GET", "/healthz"))
    cleared = {"method": "GET", "path": "/healthz", "expected_statuses": ""}
    assert web.post(vic, f"/apps/{app_id}/endpoints/settings", cleared).status_code == 403
    # Unticking both brings it back to the list, and its traffic is stored again.
    assert _save(web, mia, app_id, {"expected_statuses": ""}, "GET", "/healthz").status_code == 303
    assert "GET /healthz" in _get(mia, f"/apps/{app_id}/endpoints").split('id="all-endpoints"')[1]
    assert (
        ingest.post(
            f"/v2/{client_id}/prod/sync", json=sync_body(INSTANCE, requests=probe["requests"])
        ).status_code
        == 202
    )
    assert _stats(_get(mia, f"/apps/{app_id}/traffic"))["Requests"] == str(total + 9)
