"""Alert rules, channels and history in the dashboard: roles, CSRF, form errors, masked secrets."""

from __future__ import annotations

import re

import pytest
from tallyhub.alerts import rules as alert_rules
from tallyhub.storage import apps as app_store

from tests.support.receivers import webhook

SECRET = "hunter2-very-secret"
RULE = {
    "name": "slow prod",
    "env": "prod",
    "kind": "metric",
    "metric": "p95",
    "window_seconds": "900",
    "interval_seconds": "60",
    "comparison": ">",
    "threshold": "500",
    "fire_after": "2",
    "resolve_after": "3",
}


@pytest.fixture
def world(web):
    """Acme (admin ann, member mia, viewer vic) with the app Shop; Other (admin eve) with Rival."""
    web.user("ann@example.com", "Acme", "admin")
    web.user("mia@example.com", "Acme", "member")
    web.user("vic@example.com", "Acme", "viewer")
    web.user("eve@example.com", "Other", "admin")
    shop = app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))
    rival = app_store.create_app(web.db, "Rival", ("prod",), team_id=web.team_id("Other"))
    return {"shop": shop, "rival": rival, "acme": web.team_id("Acme"), "other": web.team_id("Other")}


def _add_channel(web, client, team_id: int, url: str, name: str = "ops") -> int:
    response = web.post(
        client, f"/teams/{team_id}/channels", {"name": name, "url": url}, page=f"/teams/{team_id}/channels"
    )
    assert response.status_code == 303, response.text
    page = client.get(f"/teams/{team_id}/channels").text
    return int(re.findall(r'data-channel="(\d+)"', page)[-1])


def test_channel_secrets_are_masked_and_kept_on_edit(web, world) -> None:
    ann = web.signed_in("ann@example.com")
    acme = world["acme"]
    channel_id = _add_channel(web, ann, acme, f"json://robot:{SECRET}@hooks.example.com/alerts")
    page = ann.get(f"/teams/{acme}/channels").text
    assert SECRET not in page and "robot:****@hooks.example.com" in page
    edit = ann.get(f"/teams/{acme}/channels/{channel_id}").text
    assert SECRET not in edit
    # Renaming with an empty URL keeps the stored URL and its secret.
    response = web.post(
        ann,
        f"/teams/{acme}/channels/{channel_id}",
        {"name": "on-call", "url": ""},
        page=f"/teams/{acme}/channels",
    )
    assert response.status_code == 303
    from tallyhub.alerts import channels as alert_channels

    with web.db.read() as conn:
        stored = alert_channels.get(conn, channel_id)
    assert stored is not None and stored.name == "on-call" and SECRET in stored.url
    # Slack tokens are masked too.
    _add_channel(web, ann, acme, "slack://T0123ABC/B0456DEF/XyzSecretTokenValue/#alerts", "slack")
    assert "XyzSecretTokenValue" not in ann.get(f"/teams/{acme}/channels").text


def test_a_url_apprise_cannot_read_is_a_400_naming_the_problem(web, world) -> None:
    ann = web.signed_in("ann@example.com")
    acme = world["acme"]
    response = web.post(
        ann,
        f"/teams/{acme}/channels",
        {"name": "x", "url": "nonsense://whatever"},
        page=f"/teams/{acme}/channels",
    )
    assert response.status_code == 400
    assert "Apprise cannot read this nonsense:// URL" in response.text
    response = web.post(
        ann,
        f"/teams/{acme}/channels",
        {"name": "x", "url": "hooks.example.com"},
        page=f"/teams/{acme}/channels",
    )
    assert response.status_code == 400 and "starts with a scheme" in response.text


def test_send_a_test_notification(web, world) -> None:
    ann = web.signed_in("ann@example.com")
    acme = world["acme"]
    with webhook() as hook:
        channel_id = _add_channel(web, ann, acme, hook.apprise_url)
        response = web.post(ann, f"/teams/{acme}/channels/{channel_id}/test", page=f"/teams/{acme}/channels")
        assert response.status_code == 200 and "The test notification was delivered." in response.text
        assert hook.titles() == ["Tallyhub test notification"]
        hook.failing = True
        response = web.post(ann, f"/teams/{acme}/channels/{channel_id}/test", page=f"/teams/{acme}/channels")
        assert "The test notification failed:" in response.text
        assert len(hook.received) == 1


def test_only_admins_manage_channels_members_see_them_masked(web, world) -> None:
    acme = world["acme"]
    ann = web.signed_in("ann@example.com")
    channel_id = _add_channel(web, ann, acme, f"json://robot:{SECRET}@hooks.example.com/alerts")
    mia = web.signed_in("mia@example.com")
    page = mia.get(f"/teams/{acme}/channels")
    assert page.status_code == 200 and SECRET not in page.text and "Add a channel" not in page.text
    assert (
        web.post(mia, f"/teams/{acme}/channels", {"name": "x", "url": "json://a.example"}).status_code == 403
    )
    assert web.post(mia, f"/teams/{acme}/channels/{channel_id}/delete").status_code == 403
    assert mia.get(f"/teams/{acme}/channels/{channel_id}").status_code == 403
    eve = web.signed_in("eve@example.com")
    assert eve.get(f"/teams/{acme}/channels").status_code == 404
    assert web.post(eve, f"/teams/{world['other']}/channels/{channel_id}/delete").status_code == 404


def test_members_create_edit_pause_and_delete_rules_viewers_read(web, world) -> None:
    shop = world["shop"].id
    ann = web.signed_in("ann@example.com")
    channel_id = _add_channel(web, ann, world["acme"], "json://hooks.example.com/alerts")
    mia = web.signed_in("mia@example.com")
    response = web.post(mia, f"/apps/{shop}/alerts", {**RULE, "channel_ids": str(channel_id)})
    assert response.status_code == 303
    with web.db.read() as conn:
        (rule,) = alert_rules.of_app(conn, shop)
    assert (rule.metric, rule.threshold, rule.window_seconds, rule.fire_after, rule.resolve_after) == (
        "p95",
        500,
        900,
        2,
        3,
    )
    assert rule.channel_ids == (channel_id,)
    listing = mia.get(f"/apps/{shop}/alerts").text
    assert "slow prod" in listing and "p95 response time &gt; 500 ms over 15 min" in listing
    edited = web.post(
        mia,
        f"/apps/{shop}/alerts/{rule.id}",
        {**RULE, "threshold": "750", "scope": "endpoint", "scope_value": "get /items/{id}"},
    )
    assert edited.status_code == 303
    with web.db.read() as conn:
        rule = alert_rules.get(conn, rule.id)
    assert (
        rule is not None
        and rule.threshold == 750
        and rule.scope_value == "GET /items/{id}"
        and rule.channel_ids == ()
    )
    assert web.post(mia, f"/apps/{shop}/alerts/{rule.id}/pause").status_code == 303
    assert "paused" in mia.get(f"/apps/{shop}/alerts").text
    vic = web.signed_in("vic@example.com")
    assert "slow prod" in vic.get(f"/apps/{shop}/alerts").text
    assert vic.get(f"/apps/{shop}/alerts/history").status_code == 200
    assert vic.get(f"/apps/{shop}/alerts/new").status_code == 403
    assert web.post(vic, f"/apps/{shop}/alerts", RULE).status_code == 403
    assert web.post(vic, f"/apps/{shop}/alerts/{rule.id}/delete").status_code == 403
    eve = web.signed_in("eve@example.com")
    assert eve.get(f"/apps/{shop}/alerts").status_code == 404
    assert web.post(eve, f"/apps/{world['rival'].id}/alerts/{rule.id}/delete").status_code == 404
    assert web.post(mia, f"/apps/{shop}/alerts/{rule.id}/delete").status_code == 303
    with web.db.read() as conn:
        assert alert_rules.of_app(conn, shop) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"threshold": "lots"}, "threshold: &#39;lots&#39; is not a number"),
        ({"metric": "latency"}, "metric: must be one of"),
        ({"env": "staging"}, "env: the app has no environment"),
        ({"window_seconds": "7"}, "window_seconds: must be one of"),
        ({"fire_after": "0"}, "fire_after: must be between 1 and 100"),
        ({"scope": "endpoint", "scope_value": "items"}, "scope_value: an endpoint is spelled"),
        (
            {"metric": "cpu_max", "scope": "consumer", "scope_value": "acme"},
            "scope: must be one of none",
        ),
    ],
)
def test_invalid_rule_is_a_400_naming_the_field(web, world, change, message) -> None:
    mia = web.signed_in("mia@example.com")
    response = web.post(mia, f"/apps/{world['shop'].id}/alerts", {**RULE, **change})
    assert response.status_code == 400
    assert message in response.text


def test_forms_need_the_csrf_token(web, world) -> None:
    mia = web.signed_in("mia@example.com")
    response = mia.post(f"/apps/{world['shop'].id}/alerts", data=RULE)
    assert response.status_code == 403 and "CSRF" in response.text


def test_history_shows_firings_with_delivery_status(web, world) -> None:
    from tests.support.alerts import AlertScheduler, Clock, load_settings

    shop = world["shop"]
    ann = web.signed_in("ann@example.com")
    with webhook() as hook:
        hook.failing = True
        channel_id = _add_channel(web, ann, world["acme"], hook.apprise_url, "hook")
        created = web.post(
            ann,
            f"/apps/{shop.id}/alerts",
            {
                **RULE,
                "name": "prod down",
                "kind": "env_down",
                "fire_after": "1",
                "channel_ids": str(channel_id),
            },
        )
        assert created.status_code == 303, created.text
        from tallyhub.storage.tables import incidents

        with web.db.write() as conn:
            env_id = app_store.env_id_for(conn, shop.id, "prod")
            conn.execute(
                incidents.insert().values(
                    env_id=env_id, kind="heartbeat", started_at=0.0, cause="no sync", details={}
                )
            )
        settings = load_settings(
            {"database_url": web.db.url.render_as_string(hide_password=False)}, environ={}
        )
        import time

        AlertScheduler(web.db, settings, Clock(time.time() + 1)).run_once()
    page = ann.get(f"/apps/{shop.id}/alerts/history").text
    assert "prod down" in page and "fired" in page
    assert "hook: <strong>pending</strong> after 1 attempt" in page
    assert "next attempt" in page
    assert 'class="error"' in page
    assert "Alerts</a>" in ann.get(f"/apps/{shop.id}/traffic").text


def test_ids_out_of_range_are_4xx_not_500(web, world) -> None:
    ann = web.signed_in("ann@example.com")
    shop, acme, huge = world["shop"].id, world["acme"], 2**40
    for path in (
        f"/apps/{shop}/alerts/{huge}/edit",
        f"/teams/{acme}/channels/{huge}",
        f"/apps/{shop}/alerts/history?before={huge}",
    ):
        assert 400 <= ann.get(path).status_code < 500, path
    assert 400 <= web.post(ann, f"/apps/{shop}/alerts/{huge}/delete").status_code < 500
