"""The setup page's install command: this project's client from the hub's wheel URL, with the extra of
the framework chosen when the app was created (both engines)."""

from __future__ import annotations

import html
import re

import pytest
from tallyhub.storage import apps as app_store

from tests.support.client_wheel import client_wheel_filename
from tests.support.web import Web

EXTRAS = {
    "flask": "flask",
    "fastapi": "fastapi",
    "starlette": "starlette",
    "django-ninja": "django-ninja",
    "django-rest-framework": "django-rest-framework",
    "litestar": "litestar",
    "blacksheep": "blacksheep",
}


def _code(page: str, element_id: str) -> str | None:
    found = re.search(rf'<code id="{element_id}">([^<]+)</code>', page)
    return html.unescape(found.group(1)) if found else None


def _ann(web: Web) -> int:
    web.user("ann@example.com", "Acme", "admin")
    return app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme")).id


@pytest.mark.parametrize(("framework", "extra"), EXTRAS.items())
def test_each_python_framework_installs_this_client_from_the_hub(
    web: Web, framework: str, extra: str
) -> None:
    app_id = _ann(web)
    url = f"https://hub.example.com/client/{client_wheel_filename()}"
    client = web.client(public_url="https://hub.example.com")
    client.cookies.update(web.signed_in("ann@example.com").cookies)
    page = client.get(f"/apps/{app_id}/setup?framework={framework}").text
    install = _code(page, "client-install")
    assert install is not None and install.startswith(f'pip install "apitally[{extra}] @ {url}"')
    # The official client spells the Django extras with underscores.
    assert (
        _code(page, "official-client-install")
        == f'pip install "apitally[{extra.replace("-", "_")}]>=0.25,<1"'
    )
    # The URL pip is told is one this hub answers (under its own address here).
    path = install.split(" @ ")[1].split('"')[0].removeprefix("https://hub.example.com")
    assert client.head(path).status_code == 200


def test_express_keeps_the_official_npm_client(web: Web) -> None:
    app_id = _ann(web)
    page = web.signed_in("ann@example.com").get(f"/apps/{app_id}/setup?framework=express").text
    assert _code(page, "client-install") == "npm install apitally@0.25"
    assert _code(page, "official-client-install") is None
    assert "/client/" not in page


def test_the_framework_chosen_at_creation_is_the_one_set_up(web: Web) -> None:
    _ann(web)
    client = web.signed_in("ann@example.com")
    created = web.post(
        client,
        "/apps/new",
        {"team_id": str(web.team_id("Acme")), "name": "Api", "framework": "litestar", "envs": "prod"},
    )
    assert created.status_code == 303
    page = client.get(created.headers["location"]).text
    assert _code(page, "client-install") == (
        f'pip install "apitally[litestar] @ http://testserver/client/{client_wheel_filename()}"'
    )
    assert "from apitally.litestar import ApitallyPlugin" in html.unescape(page)
    # Making a write token on that page keeps the framework shown.
    app_id = created.headers["location"].split("/")[2]
    form = re.search(r'<form method="post" action="([^"]+/setup/write-token[^"]*)">', page)
    assert form is not None
    token_page = web.post(client, html.unescape(form.group(1)), page=created.headers["location"])
    assert token_page.status_code == 200
    assert "from apitally.litestar import ApitallyPlugin" in html.unescape(token_page.text)
    bad = web.post(client, f"/apps/{app_id}/setup/write-token?framework=rails", page=f"/apps/{app_id}/setup")
    assert bad.status_code == 400 and "framework: one of" in bad.text


def test_a_hub_without_a_client_wheel_shows_the_official_command(web: Web, tmp_path) -> None:
    from tallyhub.web.client_wheel import ClientWheel

    app_id = _ann(web)
    client = web.signed_in("ann@example.com")
    client.app.state.client_wheel = ClientWheel(packaged=tmp_path, checkout_client=tmp_path)
    page = client.get(f"/apps/{app_id}/setup?framework=fastapi").text
    assert _code(page, "client-install") == 'pip install "apitally[fastapi]>=0.25,<1"'
    assert "/client/" not in page
