"""Server errors link to their Sentry event when the client sent an event id and the app's settings hold
the Sentry organisation URL (set by admins on the settings page, https only), on the errors page and in
the API, with errors sent through real Hub v2 ingestion (both engines)."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest
from tallyhub.storage import apps as app_store
from tallyhub.storage import sentry_links

from tests.support.syncs import request_entry, sync_body

ORG = "https://acme-corp.sentry.io"
EVENT = "9f3c1e2a4b5d4e6f8a7b6c5d4e3f2a1b"


def _error(path: str, msg: str, event_id: str | None, count: int = 1) -> dict[str, Any]:
    return {
        "consumer": None,
        "method": "POST",
        "path": path,
        "type": "builtins.RuntimeError",
        "msg": msg,
        "traceback": f"Traceback (most recent call last):\nRuntimeError: {msg}",
        "sentry_event_id": event_id,
        "error_count": count,
    }


def _send(client: Any, client_id: str, *errors: dict[str, Any]) -> None:
    requests = [request_entry(e["method"], e["path"], 500, e["error_count"], 20) for e in errors]
    body = sync_body(str(uuid.uuid4()), requests=requests, server_errors=list(errors))
    sent = client.post(f"/v2/{client_id}/prod/sync", json=body)
    assert sent.status_code == 202, sent.text


@pytest.fixture
def shop(web: Any) -> Any:
    web.user("ann@example.com", "Acme", "admin")
    web.user("mia@example.com", "Acme", "member")
    app = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    client = web.client()
    # The same error twice, the second time with an event id (the newest one is linked); one never has one.
    _send(client, app.client_id, _error("/pay", "card declined", None))
    _send(client, app.client_id, _error("/pay", "card declined", EVENT))
    _send(client, app.client_id, _error("/refund", "no such order", None, 2))
    return app


def _sentry_links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<a class="sentry-event" href="([^"]*)"', page)]


def test_admins_set_the_sentry_url_and_errors_link_to_their_event(web: Any, shop: Any) -> None:
    ann = web.signed_in("ann@example.com")
    assert _sentry_links(ann.get(f"/apps/{shop.id}/errors?period=24h").text) == []  # no URL yet: no link
    settings = f"/apps/{shop.id}/settings"
    saved = web.post(ann, f"{settings}/sentry", {"sentry_org_url": f"  {ORG}/ "}, page=settings)
    assert saved.status_code == 303
    assert f"Links go to <code>{ORG}</code>" in ann.get(settings).text  # stored without the trailing slash
    page = ann.get(f"/apps/{shop.id}/errors?period=24h").text
    assert _sentry_links(page) == [f"{ORG}/issues/?query={EVENT}"]
    row = page.split('class="sentry-event"')[0].rsplit("<tr>", 1)[1]
    assert "card declined" in row  # the link sits on the error that had the event id
    # Blank clears it: no links again.
    assert web.post(ann, f"{settings}/sentry", {"sentry_org_url": ""}, page=settings).status_code == 303
    assert _sentry_links(ann.get(f"/apps/{shop.id}/errors?period=24h").text) == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://acme-corp.sentry.io", "must start with https://"),
        ("acme-corp.sentry.io", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("https://", "must name a host"),
        ("https://sentry.io/organizations/acme?x=1", "no query, fragment or credentials"),
        ("https://user:pw@sentry.io", "no query, fragment or credentials"),
        ("https://sentry.io/a b", "no spaces"),
        ("https://sentry.io/" + "a" * 500, "at most 500 characters"),
    ],
)
def test_a_bad_sentry_url_is_a_400_naming_the_problem(web: Any, shop: Any, url: str, problem: str) -> None:
    ann = web.signed_in("ann@example.com")
    settings = f"/apps/{shop.id}/settings"
    response = web.post(ann, f"{settings}/sentry", {"sentry_org_url": url}, page=settings)
    assert response.status_code == 400
    assert "Sentry organisation URL" in response.text and problem in html.unescape(response.text)
    with web.db.read() as conn:
        assert sentry_links.org_url(conn, shop.id) is None


def test_only_admins_set_the_sentry_url(web: Any, shop: Any) -> None:
    mia = web.signed_in("mia@example.com")
    response = web.post(mia, f"/apps/{shop.id}/settings/sentry", {"sentry_org_url": ORG}, page="/apps")
    assert response.status_code == 403
    with web.db.read() as conn:
        assert sentry_links.org_url(conn, shop.id) is None


def test_the_api_lists_the_event_id_and_its_link(api: Any) -> None:
    _send(api.client, api.client_id, _error("/pay", "card declined", EVENT))
    _send(api.client, api.client_id, _error("/refund", "no such order", None))

    def listed() -> dict[str, tuple[str | None, str | None]]:
        response = api.client.get(f"/api/v1/apps/{api.app_id}/errors", params={"period": "24h"})
        assert response.status_code == 200, response.text
        return {e["msg"]: (e["sentry_event_id"], e["sentry_url"]) for e in response.json()["server_errors"]}

    assert listed() == {"card declined": (EVENT, None), "no such order": (None, None)}
    with api.writer.db.write() as conn:
        sentry_links.set_org_url(conn, api.app_id, "https://sentry.example.com/organizations/acme/")
    assert listed() == {
        "card declined": (EVENT, f"https://sentry.example.com/organizations/acme/issues/?query={EVENT}"),
        "no such order": (None, None),
    }
