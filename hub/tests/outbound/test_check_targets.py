"""Health checks and the outbound policy: local targets refused at create/edit (API and form) and at run
time, allowed by the operator's settings; redirects and DNS answers checked (both engines)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tallyhub.accounts.tokens import create_token
from tallyhub.analytics.incidents import open_incidents
from tallyhub.app import create_app
from tallyhub.outbound.guard import GuardedTransport
from tallyhub.outbound.policy import Policy
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import health_check_results
from tallyhub.uptime import checks as check_store
from tallyhub.uptime.check_runner import run_due

from tests.support.http_target import HttpTarget
from tests.support.uptime import Clock, env_id

RETRY = 0.01


@pytest.fixture
def target() -> Iterator[HttpTarget]:
    server = HttpTarget()
    yield server
    server.stop()


def _api(db: Any, **settings: Any) -> tuple[TestClient, int]:
    created = app_store.create_app(db, "Shop", ("prod",))
    url = db.url.render_as_string(hide_password=False)
    app = create_app(load_settings({"database_url": url, **settings}, environ={}), db, run_maintenance=False)
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {create_token(db, 'tests')}"
    return client, created.id


@pytest.mark.parametrize(
    "url,words",
    [
        ("http://127.0.0.1:{port}/health", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/health", "localhost resolves to"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::ffff:127.0.0.1]:{port}/", "is a loopback address"),
        ("http://10.0.0.8/", "10.0.0.8 is a private address"),
        ("http://[fd00::1]/", "is a private address"),
        ("http://0.0.0.0:{port}/", "is a unspecified address"),
    ],
)
def test_the_api_refuses_a_local_target_naming_the_url(db, target, url: str, words: str) -> None:
    client, app_id = _api(db)
    with client:
        response = client.post(
            f"/api/v1/apps/{app_id}/health-checks", json={"env": "prod", "url": url.format(port=target.port)}
        )
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"] if "errors" in response.json() else [response.json()]
        text = str(response.json())
        assert "url" in text and words in text and "TALLYHUB_OUTBOUND_ALLOW_LOCAL" in text, error
        assert client.get(f"/api/v1/apps/{app_id}/health-checks").json() == []
    assert target.hits == 0


def test_an_edit_to_a_local_target_is_refused_too(db, target) -> None:
    client, app_id = _api(db, outbound_allow="93.184.216.34")
    with client:
        made = client.post(
            f"/api/v1/apps/{app_id}/health-checks", json={"env": "prod", "url": "http://93.184.216.34/"}
        )
        assert made.status_code == 201, made.text
        check_id = made.json()["id"]
        changed = client.patch(
            f"/api/v1/apps/{app_id}/health-checks/{check_id}", json={"url": target.url, "paused": True}
        )
        assert changed.status_code == 422 and "is a loopback address" in changed.text
        assert client.get(f"/api/v1/apps/{app_id}/health-checks/{check_id}").json()["url"] == (
            "http://93.184.216.34/"
        )


@pytest.mark.parametrize("settings", [{"outbound_allow_local": True}, {"outbound_allow": "127.0.0.1"}])
def test_the_operator_allows_local_targets(db, target, settings: dict[str, Any]) -> None:
    client, app_id = _api(db, **settings)
    with client:
        response = client.post(
            f"/api/v1/apps/{app_id}/health-checks", json={"env": "prod", "url": target.url}
        )
        assert response.status_code == 201, response.text


def test_the_form_names_the_refused_url(web) -> None:
    web.user("ann@example.com", "Acme", "admin")
    shop = app_store.create_app(web.db, "Shop", ("prod",), team_id=web.team_id("Acme"))
    ann = web.signed_in("ann@example.com", outbound_allow_local=False)
    base = f"/apps/{shop.id}/uptime"
    page = web.post(ann, f"{base}/checks", {"env": "prod", "url": "http://127.0.0.1:9/x"}, page=base)
    assert page.status_code == 400
    assert "Url is refused: 127.0.0.1 is a loopback address" in page.text
    assert 'max="14.0"' in page.text  # the form says the timeout's limit


def _results(db: Any, check: int) -> list[Any]:
    with db.read() as conn:
        return list(
            conn.execute(
                sa.select(health_check_results).where(health_check_results.c.check_id == check)
            ).all()
        )


def test_a_check_whose_target_became_local_fails_without_calling_it(db, target) -> None:
    """DNS (or the settings) changed after the check was made: checked again at every run."""
    shop = app_store.create_app(db, "Shop", ("prod", "dev")).id
    prod, dev = env_id(db, shop), env_id(db, shop, "dev")
    clock = Clock()
    with db.write() as conn:
        spec = check_store.validate({"url": target.url}, Policy(allow_local=True))
        check = check_store.create(conn, prod, spec, clock.now)
    assert run_due(db, clock.now, Policy(), RETRY) == 1
    assert target.hits == 0
    [result] = _results(db, check)
    assert not result.ok and result.status_code is None
    assert "127.0.0.1 is a loopback address" in result.error
    [incident] = open_incidents(db, prod)
    assert incident.details["body"] is None and incident.details["headers"] is None

    # Allowed by the operator, a check calls the target; a failure keeps status, headers and body.
    with db.write() as conn:
        check_store.set_paused(conn, check, True, clock.now)
        check_store.create(conn, dev, spec, clock.now)
    target.behaviour.status = 503
    assert run_due(db, clock.now, Policy(allow_networks=(_net("127.0.0.1/32"),)), RETRY) == 1
    assert target.hits == 2
    [incident] = open_incidents(db, dev)
    assert incident.details["status_code"] == 503 and incident.details["body"] == "ok: all systems go"
    assert incident.details["headers"]["content-type"] == "text/plain; charset=utf-8"


def _net(text: str) -> Any:
    import ipaddress

    return ipaddress.ip_network(text)


class _Redirector:
    """An HTTP server on 127.0.0.1 that answers every GET with a redirect to `location`."""

    def __init__(self, location: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_every_redirect_hop_is_checked() -> None:
    """127.0.0.1 is allowed by the operator; its redirect to 127.0.0.2 (another loopback address) is not."""
    inner = HttpTarget()
    inner_on_2 = ThreadingHTTPServer(("127.0.0.2", 0), BaseHTTPRequestHandler)
    threading.Thread(target=inner_on_2.serve_forever, daemon=True).start()
    redirector = _Redirector(f"http://127.0.0.2:{inner_on_2.server_address[1]}/secret")
    to_allowed = _Redirector(inner.url)
    policy = Policy(allow_networks=(_net("127.0.0.1/32"),))

    async def follow(url: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=GuardedTransport(policy), follow_redirects=True) as client:
            return await client.get(url)

    try:
        with pytest.raises(httpx.ConnectError, match=r"127\.0\.0\.2 is a loopback address"):
            asyncio.run(follow(f"http://127.0.0.1:{redirector.port}/"))
        assert asyncio.run(follow(f"http://127.0.0.1:{to_allowed.port}/")).status_code == 200
        assert inner.hits == 1
    finally:
        for server in (redirector, to_allowed):
            server.stop()
        inner_on_2.shutdown()
        inner_on_2.server_close()
        inner.stop()


def test_the_connection_goes_to_the_address_that_was_checked(target) -> None:
    """The transport connects to the resolver's (checked) answer, not to a second lookup: a name the
    system cannot resolve reaches the target, with its own name in the Host header."""
    seen: list[str] = []

    def resolver(host: str, _port: int | None) -> list[str]:
        seen.append(host)
        return ["127.0.0.1"]

    policy = Policy(allow_networks=(_net("127.0.0.1/32"),), resolver=resolver)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=GuardedTransport(policy)) as client:
            return await client.get(f"http://status.invalid:{target.port}/health")

    response = asyncio.run(call())
    assert response.status_code == 200 and response.text == "ok: all systems go"
    assert seen == ["status.invalid"] and target.hits == 1

    rebinding = Policy(resolver=lambda _h, _p: ["127.0.0.1"])

    async def refused() -> httpx.Response:
        async with httpx.AsyncClient(transport=GuardedTransport(rebinding)) as client:
            return await client.get(f"http://public.invalid:{target.port}/health")

    with pytest.raises(httpx.ConnectError, match=r"public\.invalid resolves to 127\.0\.0\.1"):
        asyncio.run(refused())
    assert target.hits == 1
