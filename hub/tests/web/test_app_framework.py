"""The framework an app is set up with: chosen when the app is created (admins), changed in its settings
(admins), and the setup page, which every role may read, opens on its install command and code; the
OTLP ways open on their own section (both engines)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from tallyhub.storage import app_frameworks
from tallyhub.storage import apps as app_store

from tests.support.client_wheel import client_wheel_filename


@pytest.fixture
def world(web: Any) -> dict[str, Any]:
    """Acme (admin ann, member mia, viewer vic) with the app Shop (no framework); Other (admin eve)."""
    web.user("ann@example.com", "Acme", "admin")
    web.user("mia@example.com", "Acme", "member")
    web.user("vic@example.com", "Acme", "viewer")
    web.user("eve@example.com", "Other", "admin")
    shop = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    return {"shop": shop.id, "acme": web.team_id("Acme")}


def _stored(web: Any, app_id: int) -> str | None:
    with web.db.read() as conn:
        return app_frameworks.framework_of(conn, app_id)


def _install(page: str) -> str:
    found = re.search(r'<code id="client-install">([^<]+)</code>', page)
    assert found is not None
    return html.unescape(found.group(1))


def _sections(page: str) -> list[str]:
    return re.findall(r'<section class="card" id="(way-[a-z0-9]+|write-token)">', page)


def _create(web: Any, client: Any, team_id: int, framework: str) -> Any:
    return web.post(
        client, "/apps/new", {"team_id": str(team_id), "name": "Api", "framework": framework, "envs": "prod"}
    )


@pytest.mark.parametrize(
    ("framework", "extra", "marker"),
    [
        ("blacksheep", "blacksheep", "use_apitally(\n    app,"),
        ("django-ninja", "django-ninja", '"apitally.django.ApitallyMiddleware"'),
        ("django-rest-framework", "django-rest-framework", '"apitally.django.ApitallyMiddleware"'),
        ("fastapi", "fastapi", "from apitally.fastapi import ApitallyMiddleware"),
    ],
)
def test_an_admin_chooses_the_framework_and_every_role_sees_its_setup(
    web: Any, world: dict[str, Any], framework: str, extra: str, marker: str
) -> None:
    created = _create(web, web.signed_in("ann@example.com"), world["acme"], framework)
    assert created.status_code == 303
    app_id = int(created.headers["location"].split("/")[2])
    assert created.headers["location"] == f"/apps/{app_id}/setup"  # the page finds the stored choice
    assert _stored(web, app_id) == framework
    wheel = f"http://testserver/client/{client_wheel_filename()}"
    for email in ("ann@example.com", "mia@example.com", "vic@example.com"):
        page = web.signed_in(email).get(f"/apps/{app_id}/setup")
        assert page.status_code == 200
        assert _install(page.text) == f'pip install "apitally[{extra}] @ {wheel}"', email
        assert marker in html.unescape(page.text)
        assert re.search(rf'<a href="\?framework={framework}"[^>]* aria-current="page"', page.text)
        assert _sections(page.text)[0] == "way-client"
    # Another team's admin does not see the app at all.
    assert web.signed_in("eve@example.com").get(f"/apps/{app_id}/setup").status_code == 404


def test_members_and_viewers_create_no_app(web: Any, world: dict[str, Any]) -> None:
    for email in ("mia@example.com", "vic@example.com"):
        assert _create(web, web.signed_in(email), world["acme"], "flask").status_code == 403
    bad = _create(web, web.signed_in("ann@example.com"), world["acme"], "rails")
    assert bad.status_code == 400 and "choose a framework from the list" in bad.text


def test_an_otlp_way_opens_on_its_own_section(web: Any, world: dict[str, Any]) -> None:
    ann = web.signed_in("ann@example.com")
    created = _create(web, ann, world["acme"], "opentelemetry")
    page = ann.get(created.headers["location"]).text
    assert _sections(page) == ["way-otel", "write-token", "way-apitally1", "way-client"]
    assert "OpenTelemetry SDK (OTLP)" in page
    # A Hub v2 tab asked for in the URL shows that tab, the client section first.
    tab = ann.get(f"{created.headers['location']}?framework=litestar").text
    assert _sections(tab)[0] == "way-client" and "apitally[litestar]" in _install(tab)
    with web.db.write() as conn:
        app_frameworks.set_framework(conn, world["shop"], "apitally1")
    page = web.signed_in("vic@example.com").get(f"/apps/{world['shop']}/setup").text
    assert _sections(page) == ["way-apitally1", "write-token", "way-otel", "way-client"]


def test_an_app_without_a_framework_opens_on_flask(web: Any, world: dict[str, Any]) -> None:
    page = web.signed_in("mia@example.com").get(f"/apps/{world['shop']}/setup").text
    assert "apitally[flask]" in _install(page)
    assert "No framework was chosen for this app" in page
    assert "/settings#framework" not in page  # only admins are pointed at the settings
    assert "/settings#framework" in web.signed_in("ann@example.com").get(f"/apps/{world['shop']}/setup").text
    bad = web.signed_in("vic@example.com").get(f"/apps/{world['shop']}/setup?framework=rails")
    assert bad.status_code == 400 and "framework: one of flask, fastapi" in bad.text


def test_an_admin_changes_the_framework_in_the_settings(web: Any, world: dict[str, Any]) -> None:
    ann = web.signed_in("ann@example.com")
    settings = f"/apps/{world['shop']}/settings"
    assert "None chosen" in ann.get(settings).text
    saved = web.post(ann, f"{settings}/framework", {"framework": "starlette"}, page=settings)
    assert saved.status_code == 303
    assert "The framework was saved" in ann.get(saved.headers["location"]).text
    assert _stored(web, world["shop"]) == "starlette"
    assert '<option value="starlette" selected>Starlette</option>' in ann.get(settings).text
    page = web.signed_in("vic@example.com").get(f"/apps/{world['shop']}/setup").text
    assert (
        "apitally[starlette]" in _install(page)
        and "This app is set up with <strong>Starlette</strong>" in page
    )


@pytest.mark.parametrize("value", ["", "rails", "Flask", "x" * 40])
def test_a_bad_framework_in_the_settings_is_a_400_naming_it(
    web: Any, world: dict[str, Any], value: str
) -> None:
    ann = web.signed_in("ann@example.com")
    settings = f"/apps/{world['shop']}/settings"
    response = web.post(ann, f"{settings}/framework", {"framework": value}, page=settings)
    assert response.status_code == 400
    assert f"{value!r} is not a framework; one of flask" in html.unescape(response.text)
    assert _stored(web, world["shop"]) is None


def test_members_and_viewers_do_not_change_the_framework(web: Any, world: dict[str, Any]) -> None:
    for email in ("mia@example.com", "vic@example.com"):
        client = web.signed_in(email)
        assert client.get(f"/apps/{world['shop']}/settings").status_code == 403
        response = web.post(client, f"/apps/{world['shop']}/settings/framework", {"framework": "flask"})
        assert response.status_code == 403
    response = web.post(
        web.signed_in("eve@example.com"), f"/apps/{world['shop']}/settings/framework", {"framework": "flask"}
    )
    assert response.status_code == 404
    assert _stored(web, world["shop"]) is None
