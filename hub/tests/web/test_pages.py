"""Every dashboard page by role and by a user of another team; filters carried across pages (both engines)."""

from __future__ import annotations

import html
import re
import time
import uuid

import pytest
import sqlalchemy as sa
from tallyhub.accounts import tokens as token_store
from tallyhub.accounts import users as user_store
from tallyhub.storage import app_admin
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import api_tokens, envs, instances
from tallyhub.web.pages import DATA_PAGES

APP_PAGES = [page.slug for page in DATA_PAGES] + ["setup"]


@pytest.fixture
def world(web):
    """Acme (admin ann, member mia, viewer vic) with the app Shop; Other (admin eve) with the app Rival."""
    web.user("ann@example.com", "Acme", "admin")
    web.user("mia@example.com", "Acme", "member")
    web.user("vic@example.com", "Acme", "viewer")
    web.user("eve@example.com", "Other", "admin")
    shop = app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))
    rival = app_store.create_app(web.db, "Rival", ("prod",), team_id=web.team_id("Other"))
    return {"shop": shop, "rival": rival, "acme": web.team_id("Acme"), "other": web.team_id("Other")}


def _sync(web, app_id: int, env: str = "prod") -> None:
    """What ingestion records for a first sync: an instance row with last_sync_at.

    Ingestion is not merged into this branch; the row is written directly, as ingestion would.
    """
    now = time.time()
    with web.db.write() as conn:
        env_id = conn.execute(
            sa.select(envs.c.id).where(envs.c.app_id == app_id, envs.c.name == env)
        ).scalar_one()
        conn.execute(
            instances.insert().values(
                env_id=env_id,
                instance_uuid=str(uuid.uuid4()),
                first_seen=now,
                last_startup_at=now,
                last_sync_at=now,
            )
        )


def test_overview_shows_only_the_users_teams(web, world) -> None:
    ann = web.signed_in("ann@example.com").get("/apps")
    assert ann.status_code == 200
    assert "Shop" in ann.text and "Rival" not in ann.text
    eve = web.signed_in("eve@example.com").get("/apps")
    assert "Rival" in eve.text and "Shop" not in eve.text
    # No traffic yet: zero requests, no p95, no sparkline (figures from tallyhub.analytics).
    assert 'data-slot="overview-stats"' not in ann.text
    row = ann.text.split(">Shop</a>")[1].split("</tr>")[0]
    assert [html.unescape(c) for c in re.findall(r'<td class="num">([^<]*)</td>', row)] == ["0", "0.0 %", "–"]


@pytest.mark.parametrize("email", ["ann@example.com", "mia@example.com", "vic@example.com"])
def test_every_app_page_for_every_role(web, world, email: str) -> None:
    client = web.signed_in(email)
    app_id = world["shop"].id
    for page in APP_PAGES:
        response = client.get(f"/apps/{app_id}/{page}")
        assert response.status_code == 200, page
        assert "Shop" in response.text
    assert client.get(f"/apps/{app_id}").headers["location"] == f"/apps/{app_id}/traffic"
    assert client.get(f"/apps/{app_id}/status.json").json() == {"receiving": False, "last_data_at": None}
    settings = client.get(f"/apps/{app_id}/settings")
    team = client.get(f"/teams/{world['acme']}")
    if email.startswith("ann"):
        assert settings.status_code == team.status_code == 200
        assert f'href="/apps/{app_id}/settings"' in client.get(f"/apps/{app_id}/traffic").text
    else:
        assert settings.status_code == team.status_code == 403
        assert f'href="/apps/{app_id}/settings"' not in client.get(f"/apps/{app_id}/traffic").text


def test_another_teams_user_gets_404_everywhere(web, world) -> None:
    eve = web.signed_in("eve@example.com")
    app_id, team = world["shop"].id, world["acme"]
    for path in [f"/apps/{app_id}/{p}" for p in [*APP_PAGES, "settings", "status.json"]] + [
        f"/apps/{app_id}",
        f"/teams/{team}",
        "/apps/999999/traffic",
    ]:
        assert eve.get(path).status_code == 404, path
    for path, data in [
        (f"/apps/{app_id}/settings/name", {"name": "Mine"}),
        (f"/apps/{app_id}/settings/envs", {"name": "qa"}),
        (f"/apps/{app_id}/settings/envs/delete", {"name": "prod"}),
        (f"/apps/{app_id}/settings/client-id", {}),
        (f"/apps/{app_id}/delete", {"confirm": "Shop"}),
        (f"/teams/{team}/members", {"email": "eve@example.com", "role": "admin"}),
        (f"/teams/{team}/tokens", {"name": "steal"}),
        ("/apps/new", {"team_id": str(team), "name": "Planted", "framework": "flask", "envs": "prod"}),
    ]:
        assert web.post(eve, path, data).status_code == 404, path
    with web.db.read() as conn:
        shop = app_admin.team_app(conn, app_id)
    assert shop is not None and shop.name == "Shop" and shop.client_id == world["shop"].client_id
    assert "Planted" not in web.signed_in("ann@example.com").get("/apps").text


@pytest.mark.parametrize("email", ["mia@example.com", "vic@example.com"])
def test_members_and_viewers_cannot_administer(web, world, email: str) -> None:
    client = web.signed_in(email)
    app_id, team = world["shop"].id, world["acme"]
    assert client.get("/apps/new").status_code == 403
    for path, data in [
        (f"/apps/{app_id}/settings/name", {"name": "Mine"}),
        (f"/apps/{app_id}/settings/client-id", {}),
        (f"/apps/{app_id}/delete", {"confirm": "Shop"}),
        (f"/teams/{team}/tokens", {"name": "t"}),
        (f"/teams/{team}/members", {"email": "x@example.com", "role": "admin"}),
        ("/apps/new", {"team_id": str(team), "name": "New", "framework": "flask", "envs": "prod"}),
    ]:
        assert web.post(client, path, data).status_code == 403, path


@pytest.mark.parametrize("page", [*APP_PAGES, "settings"])
def test_every_filter_carries_across_links(web, world, page: str) -> None:
    client = web.signed_in("ann@example.com")
    app_id = world["shop"].id
    query = (
        "env=prod&period=custom&start=2026-11-01T00%3A00%3A00Z&end=2026-11-02T00%3A00%3A00Z"
        "&consumer=customer-7&group=Partners&method=POST&path=%2Fitems%2F%7Bid%7D&status=4xx"
    )
    response = client.get(f"/apps/{app_id}/{page}?{query}")
    assert response.status_code == 200
    links = [html.unescape(h) for h in re.findall(r'href="(/apps[^"]*)"', response.text)]
    for slug in [*APP_PAGES, "settings"]:
        assert f"/apps/{app_id}/{slug}?{query}" in links, slug
    assert f"/apps?{query}" in links  # the brand link back to the overview keeps them too


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("env", "prod"),
        ("period", "1h"),
        ("period", "24h"),
        ("period", "7d"),
        ("period", "30d"),
        ("period", "12mo"),
        ("consumer", "c-1"),
        ("group", "Partners"),
        ("method", "DELETE"),
        ("path", "/items/<int:id>"),
        ("status", "503"),
    ],
)
def test_each_filter_shows_in_the_filter_bar(web, world, name: str, value: str) -> None:
    client = web.signed_in("vic@example.com")
    response = client.get(f"/apps/{world['shop'].id}/traffic", params={name: value})
    assert response.status_code == 200
    form = response.text.split('class="filters"')[1].split("</form>")[0]
    escaped = html.escape(value)
    assert (
        f'value="{escaped}"' in form
        or f'<option value="{escaped}" selected>' in form
        or f"<option selected>{escaped}</option>" in form
    ), form


def test_invalid_filter_is_a_400_naming_it(web, world) -> None:
    client = web.signed_in("ann@example.com")
    for query, name in [("period=2w", "period"), ("status=700", "status"), ("env=a%20b", "env")]:
        response = client.get(f"/apps/{world['shop'].id}/traffic?{query}")
        assert response.status_code == 400
        assert f"Invalid filter {name}:" in response.text
    assert client.get("/apps?start=yesterday").status_code == 400


def test_create_app_leads_to_its_setup_page(web, world) -> None:
    client = web.signed_in("ann@example.com")
    form = client.get("/apps/new")
    assert form.status_code == 200 and "Acme" in form.text and "Other" not in form.text
    bad = web.post(
        client,
        "/apps/new",
        {"team_id": str(world["acme"]), "name": "Api", "framework": "flask", "envs": "prod, bad env!"},
    )
    assert bad.status_code == 400 and "not an environment name" in bad.text
    bad = web.post(
        client,
        "/apps/new",
        {"team_id": str(world["acme"]), "name": " ", "framework": "flask", "envs": "prod"},
    )
    assert bad.status_code == 400
    bad = web.post(
        client,
        "/apps/new",
        {"team_id": str(world["acme"]), "name": "Api", "framework": "rails", "envs": "prod"},
    )
    assert bad.status_code == 400
    created = web.post(
        client,
        "/apps/new",
        {"team_id": str(world["acme"]), "name": "Api", "framework": "fastapi", "envs": "prod staging"},
    )
    assert created.status_code == 303
    location = created.headers["location"]
    assert re.fullmatch(r"/apps/\d+/setup", location)  # the page opens on the stored framework
    page = client.get(location)
    assert "from apitally.fastapi import ApitallyMiddleware" in page.text
    app_id = int(location.split("/")[2])
    with web.db.read() as conn:
        app = app_admin.team_app(conn, app_id)
    assert app is not None and app.team_id == world["acme"] and app.envs == ("prod", "staging")
    assert app.client_id in page.text


def test_flask_snippet_is_the_guide_with_this_hubs_url(web, world) -> None:
    client = web.signed_in("mia@example.com")
    page = client.get(f"/apps/{world['shop'].id}/setup?framework=flask")
    code = html.unescape(
        page.text.split('<code id="snippet" class="language-python">')[1].split("</code>")[0]
    )
    assert code == (
        "from flask import Flask\n"
        "from apitally.flask import ApitallyMiddleware\n"
        "\n"
        "app = Flask(__name__)\n"
        "app.wsgi_app = ApitallyMiddleware(\n"
        "    app,\n"
        f'    client_id="{world["shop"].client_id}",\n'
        '    env="dev",  # or "prod" etc.\n'
        ")"
    )
    assert html.unescape(page.text).count('export APITALLY_HUB_BASE_URL="http://testserver"') == 1
    configured = web.client(public_url="https://hub.example.com")
    configured.cookies.update(client.cookies)
    assert 'APITALLY_HUB_BASE_URL="https://hub.example.com"' in html.unescape(
        configured.get(f"/apps/{world['shop'].id}/setup").text
    )


@pytest.mark.parametrize(
    ("framework", "marker"),
    [
        ("flask", "app.wsgi_app = ApitallyMiddleware("),
        ("fastapi", "app.add_middleware("),
        ("starlette", "from apitally.starlette import ApitallyMiddleware"),
        ("django-ninja", '"apitally.django.ApitallyMiddleware"'),
        ("django-rest-framework", '"apitally.django.ApitallyMiddleware"'),
        ("blacksheep", "from apitally.blacksheep import use_apitally"),
        ("litestar", "ApitallyPlugin("),
        ("express", "useApitally(app, {"),
    ],
)
def test_snippet_for_each_framework(web, world, framework: str, marker: str) -> None:
    client = web.signed_in("vic@example.com")
    page = html.unescape(client.get(f"/apps/{world['shop'].id}/setup?framework={framework}").text)
    assert marker in page
    assert world["shop"].client_id in page
    assert "APITALLY_HUB_BASE_URL" in page
    assert client.get(f"/apps/{world['shop'].id}/setup?framework=rails").status_code == 400


def test_setup_status_switches_when_the_first_sync_arrives(web, world) -> None:
    client = web.signed_in("vic@example.com")
    app_id = world["shop"].id
    assert "Waiting for first data" in client.get(f"/apps/{app_id}/setup").text
    assert client.get(f"/apps/{app_id}/status.json").json()["receiving"] is False
    _sync(web, world["rival"].id)  # another app's data does not count
    assert client.get(f"/apps/{app_id}/status.json").json()["receiving"] is False
    _sync(web, app_id, "dev")
    status = client.get(f"/apps/{app_id}/status.json").json()
    assert status["receiving"] is True and status["last_data_at"].endswith("Z")
    assert "Receiving data" in client.get(f"/apps/{app_id}/setup").text


def test_rename_and_environments(web, world) -> None:
    client = web.signed_in("ann@example.com")
    app_id = world["shop"].id
    settings = f"/apps/{app_id}/settings"
    renamed = web.post(client, f"{settings}/name", {"name": "Shop 2"}, page=settings)
    assert renamed.status_code == 303
    assert "The app was renamed." in client.get(renamed.headers["location"]).text
    assert web.post(client, f"{settings}/name", {"name": ""}, page=settings).status_code == 400
    assert web.post(client, f"{settings}/envs", {"name": "qa"}, page=settings).status_code == 303
    assert web.post(client, f"{settings}/envs", {"name": "no way"}, page=settings).status_code == 400
    _sync(web, app_id, "dev")
    assert web.post(client, f"{settings}/envs/delete", {"name": "dev"}, page=settings).status_code == 303
    assert web.post(client, f"{settings}/envs/delete", {"name": "nope"}, page=settings).status_code == 404
    with web.db.read() as conn:
        app = app_admin.team_app(conn, app_id)
        left = conn.execute(sa.select(sa.func.count()).select_from(instances)).scalar_one()
    assert app is not None and app.name == "Shop 2" and app.envs == ("prod", "qa")
    assert left == 0  # the environment's data went with it


def test_rotate_client_id(web, world) -> None:
    client = web.signed_in("ann@example.com")
    app_id, old = world["shop"].id, world["shop"].client_id
    response = web.post(client, f"/apps/{app_id}/settings/client-id", page=f"/apps/{app_id}/settings")
    assert response.status_code == 200
    with web.db.read() as conn:
        new = app_admin.team_app(conn, app_id).client_id  # type: ignore[union-attr]
        assert app_store.app_id_for_client_id(conn, old) is None
        assert app_store.app_id_for_client_id(conn, new) == app_id
    assert new != old and new in response.text


def test_delete_needs_the_typed_name(web, world) -> None:
    client = web.signed_in("ann@example.com")
    app_id = world["shop"].id
    _sync(web, app_id)
    wrong = web.post(client, f"/apps/{app_id}/delete", {"confirm": "shop"}, page=f"/apps/{app_id}/settings")
    assert wrong.status_code == 400 and "type its name exactly" in wrong.text
    assert client.get(f"/apps/{app_id}/traffic").status_code == 200
    done = web.post(client, f"/apps/{app_id}/delete", {"confirm": "Shop"}, page=f"/apps/{app_id}/settings")
    assert done.status_code == 303 and done.headers["location"] == "/apps"
    assert client.get(f"/apps/{app_id}/traffic").status_code == 404
    with web.db.read() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(envs).where(envs.c.app_id == app_id)
            ).scalar_one()
            == 0
        )
        assert conn.execute(sa.select(sa.func.count()).select_from(instances)).scalar_one() == 0
    assert web.signed_in("eve@example.com").get(f"/apps/{world['rival'].id}/traffic").status_code == 200


def test_members_and_roles(web, world) -> None:
    client = web.signed_in("ann@example.com")
    team = world["acme"]
    page = f"/teams/{team}"
    text = client.get(page).text
    assert "mia@example.com" in text and "vic@example.com" in text and "eve@example.com" not in text
    # An existing user is invited too, and joins by accepting (test_account_flows.py has the details).
    web.user("zed@example.com", "Elsewhere", "viewer")
    added = web.post(client, f"{page}/members", {"email": "zed@example.com", "role": "member"}, page=page)
    assert added.status_code == 200
    link = added.text.split('id="invite-link">')[1].split("<")[0].removeprefix("http://testserver")
    zed = web.signed_in("zed@example.com")
    assert "Shop" not in zed.get("/apps").text
    assert web.post(zed, f"{link}/accept", page=link).status_code == 303
    assert "Shop" in zed.get("/apps").text
    mia_id = web.user("mia@example.com", "Acme", "member")
    assert web.post(client, f"{page}/members/{mia_id}/role", {"role": "viewer"}, page=page).status_code == 303
    assert web.signed_in("mia@example.com").get(f"/apps/{world['shop'].id}/settings").status_code == 403
    assert web.post(client, f"{page}/members/{mia_id}/role", {"role": "owner"}, page=page).status_code == 400
    assert web.post(client, f"{page}/members/{mia_id}/remove", page=page).status_code == 303
    assert web.signed_in("mia@example.com").get(f"/apps/{world['shop'].id}/traffic").status_code == 404
    # The last admin can neither be demoted nor removed.
    ann_id = web.user("ann@example.com", "Acme", "admin")
    demote = web.post(client, f"{page}/members/{ann_id}/role", {"role": "viewer"}, page=page)
    assert demote.status_code == 400 and "at least one admin" in demote.text
    assert web.post(client, f"{page}/members/{ann_id}/remove", page=page).status_code == 400
    eve_id = web.user("eve@example.com", "Other", "admin")
    assert web.post(client, f"{page}/members/{eve_id}/remove", page=page).status_code == 404


def test_read_api_tokens_belong_to_the_team(web, world) -> None:
    client = web.signed_in("ann@example.com")
    team = world["acme"]
    page = f"/teams/{team}"
    created = web.post(client, f"{page}/tokens", {"name": "grafana"}, page=page)
    assert created.status_code == 200
    token = created.text.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("th_")
    with web.db.read() as conn:
        token_id = token_store.token_id(conn, token)
        assert token_id is not None
        assert (
            conn.execute(sa.select(api_tokens.c.team_id).where(api_tokens.c.id == token_id)).scalar_one()
            == team
        )
    listed = client.get(page).text
    assert "grafana" in listed and token not in listed  # shown once only
    assert web.post(client, f"{page}/tokens", {"name": ""}, page=page).status_code == 400
    eve = web.signed_in("eve@example.com")
    assert web.post(eve, f"/teams/{world['other']}/tokens/{token_id}/delete").status_code == 404
    assert web.post(client, f"{page}/tokens/{token_id}/delete", page=page).status_code == 303
    with web.db.read() as conn:
        assert token_store.token_id(conn, token) is None


def test_create_team(web, world) -> None:
    client = web.signed_in("vic@example.com")
    with web.db.write() as conn:  # by default only hub admins create teams (test_team_creation.py)
        user_store.set_hub_admin(conn, "vic@example.com", True)
    created = web.post(client, "/teams", {"name": "Side project"})
    assert created.status_code == 303
    assert client.get(created.headers["location"]).status_code == 200
    assert client.get("/apps/new").status_code == 200  # admin of the new team now
    assert web.post(client, "/teams", {"name": "Acme"}).status_code == 400


def test_metrics_alone_also_count_as_first_data(web, world) -> None:
    from tallyhub.storage.tables import metrics

    client = web.signed_in("vic@example.com")
    app_id = world["shop"].id
    with web.db.write() as conn:
        env_id = conn.execute(sa.select(envs.c.id).where(envs.c.app_id == app_id).limit(1)).scalar_one()
        conn.execute(
            metrics.insert().values(
                env_id=env_id,
                granularity=60,
                bucket=1_800_000_040 // 60 * 60,
                level=0,
                endpoint_id=0,
                consumer_id=0,
                status_code=200,
                request_count=1,
                request_size_sum=0,
                response_size_sum=0,
                response_times='{"1": 1}',
                request_sizes="{}",
                response_sizes="{}",
            )
        )
    assert client.get(f"/apps/{app_id}/status.json").json() == {
        "receiving": True,
        "last_data_at": "2027-01-15T08:00:00Z",
    }
