"""The setup page's three ways to send data, the write token made on it, and the first-data link."""

from __future__ import annotations

import html
import re
import time
import uuid

import sqlalchemy as sa
from tallyhub.storage import apps as app_store
from tallyhub.storage import write_tokens
from tallyhub.storage.tables import envs, instances


def _shop(web):  # type: ignore[no-untyped-def]
    web.user("ann@example.com", "Acme", "admin")
    web.user("vic@example.com", "Acme", "viewer")
    return app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))


def test_admin_makes_a_write_token_shown_once_and_valid(web) -> None:  # type: ignore[no-untyped-def]
    shop = _shop(web)
    client = web.signed_in("ann@example.com")
    setup = f"/apps/{shop.id}/setup"
    first = html.unescape(client.get(setup).text)
    assert "This app has no write token yet." in first
    assert 'export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <write token>"' in first
    made = web.post(client, f"{setup}/write-token", page=setup)
    assert made.status_code == 200
    page = html.unescape(made.text)
    (token,) = re.findall(r'<code id="write-token-value">(apt_[A-Za-z0-9]{24})</code>', page)
    assert f'apitally.init(app, write_token="{token}", env="prod")' in page
    assert f'export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {token}"' in page
    assert 'export OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=prod"' in page
    assert 'export APITALLY_OTLP_ENDPOINT="http://testserver"' in page
    with web.db.read() as conn:
        assert write_tokens.app_for(conn, token, time.time()) == shop.id
    again = html.unescape(client.get(setup).text)
    assert token not in again and f"begins with <code>{token[:8]}</code>" in again


def test_only_admins_make_write_tokens(web) -> None:  # type: ignore[no-untyped-def]
    shop = _shop(web)
    viewer = web.signed_in("vic@example.com")
    setup = f"/apps/{shop.id}/setup"
    assert "Make a new write token" not in viewer.get(setup).text
    assert web.post(viewer, f"{setup}/write-token", page=setup).status_code == 403
    with web.db.read() as conn:
        assert write_tokens.hint(conn, shop.id) is None


def test_waiting_becomes_a_link_to_the_traffic_once_data_arrived(web) -> None:  # type: ignore[no-untyped-def]
    shop = _shop(web)
    client = web.signed_in("vic@example.com")
    assert "Waiting for first data" in client.get(f"/apps/{shop.id}/setup").text
    now = time.time()
    with web.db.write() as conn:
        env_id = conn.execute(
            sa.select(envs.c.id).where(envs.c.app_id == shop.id, envs.c.name == "prod")
        ).scalar()
        conn.execute(
            instances.insert().values(
                env_id=env_id, instance_uuid=str(uuid.uuid4()), first_seen=now, last_sync_at=now
            )
        )
    page = client.get(f"/apps/{shop.id}/setup").text
    assert f'<a href="/apps/{shop.id}/traffic">Receiving data: see the traffic</a>' in page
