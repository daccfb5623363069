"""Saved views in the dashboard: saving, listing, applying and deleting them, for every role (both engines).

Traffic goes in through real Hub v2 ingestion; the figures of an applied view are recomputed from it.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa
from tallyhub.storage import apps as app_store

from tests.support.syncs import request_entry, startup_body, sync_body

# (env, method, route, status, count)
SENT = [
    ("prod", "GET", "/v1/items/<int:id>", 200, 13),
    ("prod", "GET", "/v1/items/<int:id>", 404, 5),
    ("prod", "POST", "/v1/orders", 201, 8),
    ("prod", "GET", "/v2/items/{id}", 200, 21),
    ("dev", "GET", "/v1/items/<int:id>", 200, 4),
]
ROLES = {"ann@example.com": "admin", "mia@example.com": "member", "vic@example.com": "viewer"}


def requests_of(env: str | None, prefix: str) -> int:
    return sum(n for e, _, route, _, n in SENT if env in (None, e) and route.startswith(prefix))


@pytest.fixture
def shop(web: Any) -> int:
    for email, role in ROLES.items():
        web.user(email, "Acme", role)
    web.user("eve@example.com", "Other", "admin")
    app = app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))
    client = web.client()
    for env in ("prod", "dev"):
        rows = [s for s in SENT if s[0] == env]
        instance = str(uuid.uuid4())
        routes = sorted({(m, p) for _, m, p, _, _ in rows})
        assert (
            client.post(f"/v2/{app.client_id}/{env}/startup", json=startup_body(instance, routes)).status_code
            == 202
        )
        entries = [request_entry(m, p, s, n, 20) for _, m, p, s, n in rows]
        assert (
            client.post(
                f"/v2/{app.client_id}/{env}/sync", json=sync_body(instance, requests=entries)
            ).status_code
            == 202
        )
    return app.id


def _views(page: str) -> dict[str, str]:
    """The saved views the filter bar lists: name -> the link that applies it."""
    bar = page.split('<div class="saved-views">')[1].split('class="save-view"')[0]
    found = re.findall(r'<li class="saved-view"><a href="([^"]*)"[^>]*>([^<]*)</a>', bar)
    return {html.unescape(name): html.unescape(href) for href, name in found}


def _deletable(page: str) -> set[int]:
    return {int(i) for i in re.findall(r'action="/apps/\d+/views/(\d+)/delete"', page)}


def _requests(page: str) -> int:
    found = re.search(r'<span class="label">Requests</span><span class="value">([^<]*)</span>', page)
    assert found, page[:300]
    return int(found.group(1).replace(",", "").replace("\u202f", ""))


def _save(web: Any, client: Any, app_id: int, page: str, query: str, name: str, shared: bool = False) -> Any:
    form = {"name": name, "page": page, "query": query, **({"shared": "on"} if shared else {})}
    return web.post(client, f"/apps/{app_id}/views", form, page=f"/apps/{app_id}/traffic")


def _view_ids(web: Any, app_id: int) -> dict[str, int]:
    """Every view of the app (shared and private), name -> id, read from the table."""
    from tallyhub.storage.tables import saved_views

    with web.db.read() as conn:
        rows = conn.execute(
            sa.select(saved_views.c.name, saved_views.c.id).where(saved_views.c.app_id == app_id)
        )
        return {name: view_id for name, view_id in rows}


def test_save_list_and_apply_a_view_on_every_page(web: Any, shop: int) -> None:
    mia = web.signed_in("mia@example.com")
    query = "env=prod&period=7d&path=%2Fv1%2F%2A%2A"
    saved = _save(web, mia, shop, "traffic", query, "Prod v1")
    assert saved.status_code == 303 and saved.headers["location"] == f"/apps/{shop}/traffic?{query}"
    # Listed on every page with a filter bar; its link applies it to the page shown.
    for page in (
        "traffic",
        "errors",
        "performance",
        "endpoints",
        "consumers",
        "request-logs",
        "consumers/groups",
    ):
        listed = _views(mia.get(f"/apps/{shop}/{page}").text)
        target = urlsplit(listed["Prod v1"])
        assert target.path == f"/apps/{shop}/{page}", page
        assert parse_qsl(target.query) == [("env", "prod"), ("period", "7d"), ("path", "/v1/**")]
    applied = mia.get(_views(mia.get(f"/apps/{shop}/traffic").text)["Prod v1"]).text
    assert _requests(applied) == requests_of("prod", "/v1/") == 26
    assert 'aria-current="true">Prod v1</a>' in applied
    # On an endpoint's page the view applies its filters and keeps the endpoint.
    detail = f"/apps/{shop}/endpoints/detail?method=GET&path=%2Fv2%2Fitems%2F%7Bid%7D"
    href = _views(mia.get(detail).text)["Prod v1"]
    assert dict(parse_qsl(urlsplit(href).query)) == {
        "env": "prod",
        "period": "7d",
        "method": "GET",
        "path": "/v2/items/{id}",
    }
    assert _requests(mia.get(href).text) == requests_of("prod", "/v2/")


def test_a_view_saved_on_a_detail_page_leaves_the_endpoint_out(web: Any, shop: int) -> None:
    ann = web.signed_in("ann@example.com")
    saved = _save(
        web, ann, shop, "endpoints/detail", "env=dev&method=GET&path=%2Fv1%2Fitems%2F%3Cint%3Aid%3E", "Dev"
    )
    assert saved.status_code == 303
    assert saved.headers["location"].startswith(f"/apps/{shop}/endpoints/detail?env=dev&method=GET&path=")
    href = _views(ann.get(f"/apps/{shop}/traffic").text)["Dev"]
    assert href == f"/apps/{shop}/traffic?env=dev"
    assert _requests(ann.get(href).text) == requests_of("dev", "/")


@pytest.mark.parametrize("email", sorted(ROLES))
def test_every_role_keeps_private_views_and_members_share(web: Any, shop: int, email: str) -> None:
    role = ROLES[email]
    client = web.signed_in(email)
    assert _save(web, client, shop, "traffic", "env=dev", f"mine {role}").status_code == 303
    shared = _save(web, client, shop, "traffic", "env=prod", f"team {role}", shared=True)
    page = client.get(f"/apps/{shop}/traffic").text
    if role == "viewer":
        assert shared.status_code == 403 and "member role" in shared.text
        assert "Share with the team" not in page
    else:
        assert shared.status_code == 303
        assert "Share with the team" in page
    assert set(_views(page)) == {f"mine {role}"} | ({f"team {role}"} if role != "viewer" else set())
    # Teammates see the shared view and not the private one; another team sees nothing at all.
    for other in sorted(set(ROLES) - {email}):
        theirs = set(_views(web.signed_in(other).get(f"/apps/{shop}/traffic").text))
        assert theirs == ({f"team {role}"} if role != "viewer" else set()), other
    eve = web.signed_in("eve@example.com")
    assert eve.get(f"/apps/{shop}/traffic").status_code == 404
    assert _save(web, eve, shop, "traffic", "env=dev", "stolen").status_code == 404
    ids = _view_ids(web, shop)
    for view_id in ids.values():
        form = {"page": "traffic", "query": ""}
        assert web.post(eve, f"/apps/{shop}/views/{view_id}/delete", form).status_code == 404


def test_who_may_delete(web: Any, shop: int) -> None:
    ann, mia, vic = (web.signed_in(e) for e in ("ann@example.com", "mia@example.com", "vic@example.com"))
    assert _save(web, mia, shop, "traffic", "env=prod", "mia shared", shared=True).status_code == 303
    assert _save(web, mia, shop, "traffic", "env=dev", "mia private").status_code == 303
    assert _save(web, ann, shop, "traffic", "period=1h", "ann shared", shared=True).status_code == 303
    assert _save(web, vic, shop, "traffic", "period=30d", "vic private").status_code == 303
    ids = _view_ids(web, shop)
    assert len(ids) == 4

    def delete(client: Any, name: str) -> int:
        form = {"page": "errors", "query": "env=prod"}
        response = web.post(
            client, f"/apps/{shop}/views/{ids[name]}/delete", form, page=f"/apps/{shop}/traffic"
        )
        if response.status_code == 303:
            assert response.headers["location"] == f"/apps/{shop}/errors?env=prod"
        return int(response.status_code)

    # The bar offers delete exactly where it is allowed.
    assert _deletable(mia.get(f"/apps/{shop}/traffic").text) == {ids["mia shared"], ids["mia private"]}
    assert _deletable(ann.get(f"/apps/{shop}/traffic").text) == {ids["mia shared"], ids["ann shared"]}
    assert _deletable(vic.get(f"/apps/{shop}/traffic").text) == {ids["vic private"]}
    assert delete(vic, "ann shared") == 403
    assert delete(mia, "ann shared") == 403
    assert delete(ann, "mia private") == 404  # not the admin's to see
    assert delete(ann, "mia shared") == 303
    assert delete(mia, "mia private") == 303
    assert delete(vic, "vic private") == 303
    assert set(_view_ids(web, shop)) == {"ann shared"}
    assert delete(ann, "mia shared") == 404  # already gone


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"query": "env=prod&secret=1"}, "secret: not a filter a view holds"),
        ({"query": "path=%2Fv1%2F%2A%2Ax"}, "whole segments only"),
        ({"query": "status=7xx"}, "status"),
        ({"query": "period=2d"}, "period"),
        ({"query": ""}, "at least one filter"),
        ({"name": "   "}, "a view needs a name"),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"page": "settings"}, "Unknown page"),
        ({"page": "//evil.example/x"}, "Unknown page"),
    ],
)
def test_bad_views_are_refused_naming_the_problem(
    web: Any, shop: int, form: dict[str, str], message: str
) -> None:
    mia = web.signed_in("mia@example.com")
    fields = {"name": "ok", "page": "traffic", "query": "env=prod", **form}
    response = _save(web, mia, shop, fields["page"], fields["query"], fields["name"])
    assert response.status_code == 400, response.text[:300]
    assert message in html.unescape(response.text)
    assert _view_ids(web, shop) == {}


def test_names_are_unique_per_person_and_escaped(web: Any, shop: int) -> None:
    mia = web.signed_in("mia@example.com")
    name = '<script>alert("x")</script> & co'
    assert _save(web, mia, shop, "traffic", "env=prod", name).status_code == 303
    again = _save(web, mia, shop, "traffic", "env=dev", name.upper())
    assert again.status_code == 400 and "already exists" in html.unescape(again.text)
    page = mia.get(f"/apps/{shop}/traffic").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in page
    # Another person may use the same name for a private view of their own.
    assert _save(web, web.signed_in("ann@example.com"), shop, "traffic", "env=dev", name).status_code == 303


def test_saving_needs_the_csrf_token(web: Any, shop: int) -> None:
    mia = web.signed_in("mia@example.com")
    response = mia.post(f"/apps/{shop}/views", data={"name": "x", "page": "traffic", "query": "env=prod"})
    assert response.status_code == 403
    assert _view_ids(web, shop) == {}
