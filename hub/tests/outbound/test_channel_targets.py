"""Notification channels and the outbound policy: a channel URL naming a local host is refused when it is
entered (API and form), and every name Apprise resolves while sending is checked (both engines)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from tallyhub.accounts import teams
from tallyhub.accounts.tokens import create_token
from tallyhub.alerts import channel_urls
from tallyhub.app import create_app
from tallyhub.outbound.policy import Policy
from tallyhub.settings import load_settings

from tests.support.alerts import alert_world
from tests.support.hub_process import free_port
from tests.support.receivers import smtp_server, webhook

CHANNELS = "/api/v1/alert-channels"


def _api(db: Any, **settings: Any) -> tuple[TestClient, int]:
    url = db.url.render_as_string(hide_password=False)
    app = create_app(load_settings({"database_url": url, **settings}, environ={}), db, run_maintenance=False)
    with db.write() as conn:
        team_id = teams.ensure_team(conn, "Acme").id
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {create_token(db, 'tests')}"
    return client, team_id


@pytest.mark.parametrize(
    "url,words",
    [
        ("json://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
        ("form://localhost:{port}/", "localhost resolves to"),
        ("xml://[::1]:{port}/", "::1 is a loopback address"),
        ("jsons://169.254.169.254/latest", "169.254.169.254 is a link-local address"),
        ("mailto://127.0.0.1:{port}/?from=hub@example.com&to=ops@example.com", "is a loopback address"),
        ("ntfy://10.1.2.3/topic", "10.1.2.3 is a private address"),
    ],
)
def test_the_api_refuses_a_channel_on_the_local_network(db, url: str, words: str) -> None:
    client, team_id = _api(db)
    with client, webhook() as hook:
        response = client.post(
            CHANNELS, json={"name": "ops", "url": url.format(port=hook.port), "team_id": team_id}
        )
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"][-1] == "url" and words in error["msg"] and "host is refused" in error["msg"]
        assert client.get(CHANNELS).json() == []


@pytest.mark.parametrize("settings", [{"outbound_allow_local": True}, {"outbound_allow": "127.0.0.0/8"}])
def test_the_operator_allows_local_channels(db, settings: dict[str, Any]) -> None:
    client, team_id = _api(db, **settings)
    with client, webhook() as hook:
        made = client.post(CHANNELS, json={"name": "ops", "url": hook.apprise_url, "team_id": team_id})
        assert made.status_code == 201, made.text
        sent = client.post(f"{CHANNELS}/{made.json()['id']}/test")
        assert sent.json() == {"delivered": True, "error": None}
        assert hook.titles() == ["Tallyhub test notification"]


def test_a_local_channel_is_not_called_at_send_time_and_tells_no_port_state(db) -> None:
    """A channel stored before DNS (or the settings) changed: refused when sending, the same way whether
    the port is open or closed, so a test send is no port scanner."""
    with webhook() as hook:
        open_port = channel_urls.send(hook.apprise_url, "t", "b", Policy())
        closed_port = channel_urls.send(f"json://127.0.0.1:{free_port()}/hook", "t", "b", Policy())
        assert hook.received == []
        assert open_port is not None and "127.0.0.1 is a loopback address" in open_port
        assert open_port == closed_port
        assert channel_urls.send(hook.apprise_url, "t", "b", Policy(allow_local=True)) is None
        assert len(hook.received) == 1


def test_smtp_resolutions_are_checked_too() -> None:
    with smtp_server() as box:
        error = channel_urls.send(box.apprise_url, "subject", "body", Policy())
        assert error is not None and "is a loopback address" in error and box.messages == []
        assert channel_urls.send(box.apprise_url, "subject", "body", Policy(allow_local=True)) is None
        assert len(box.messages) == 1


def test_scheduled_deliveries_follow_the_policy(db) -> None:
    world = alert_world(db, outbound_allow_local=False)
    with webhook() as hook:
        world.rule((world.channel(hook.apprise_url),), name="down", kind="env_down")
        world.open_incident()
        world.tick()
        (n,) = world.notifications()
        assert n.status == "pending" and "is a loopback address" in n.last_error
        assert hook.received == []


def test_the_form_names_the_refused_channel(web) -> None:
    web.user("ann@example.com", "Acme", "admin")
    acme = web.team_id("Acme")
    ann = web.signed_in("ann@example.com", outbound_allow_local=False)
    page = web.post(
        ann,
        f"/teams/{acme}/channels",
        {"name": "ops", "url": "json://127.0.0.1:9/hook"},
        page=f"/teams/{acme}/channels",
    )
    assert page.status_code == 400 and "127.0.0.1 is a loopback address" in page.text


def test_every_name_resolved_during_a_send_is_checked() -> None:
    """What Apprise's plugins resolve (requests, smtplib), in the thread of the send or in Apprise's own
    worker threads (they copy the context), is checked; the rest of the process is untouched."""
    import concurrent.futures
    import contextvars
    import socket

    from tallyhub.outbound.guard import BlockedConnection, guarded

    with guarded(Policy()):
        with pytest.raises(BlockedConnection, match="localhost resolves to"):
            socket.getaddrinfo("localhost", 80)
        context = contextvars.copy_context()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(context.run, socket.getaddrinfo, "127.0.0.1", 80)
            with pytest.raises(BlockedConnection):
                future.result()
    assert socket.getaddrinfo("localhost", 80)  # outside a send: the database driver and others resolve
