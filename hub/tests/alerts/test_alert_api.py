"""The read API's alert routes: rules, history with deliveries, channels with masked URLs, team scoping."""

from __future__ import annotations

from typing import Any

from tallyhub.accounts import teams
from tallyhub.accounts.team_tokens import create_team_token

from tests.support.alerts import alert_world
from tests.support.receivers import webhook

SECRET = "s3cr3t-token-value"


def test_rules_history_and_channels_read_back_with_secrets_masked(api: Any) -> None:
    world = alert_world(api.writer.db)  # a second app "Shop" in the default team, as the CLI token sees all
    with webhook() as hook:
        hook.failing = True
        failing = world.channel(hook.apprise_url, "hook")
        secret = world.channel(f"json://bot:{SECRET}@127.0.0.1:9/none", "secret")
        rule_id = world.rule((failing, secret), name="prod down", kind="env_down")
        world.open_incident()
        world.tick()
    rules = api.client.get(f"/api/v1/apps/{world.app_id}/alert-rules").json()
    assert [(r["id"], r["name"], r["kind"], r["state"], r["channel_ids"]) for r in rules] == [
        (rule_id, "prod down", "env_down", "firing", sorted([failing, secret]))
    ]
    (event,) = api.client.get(f"/api/v1/apps/{world.app_id}/alert-history").json()
    assert event["kind"] == "fired" and "environment is down" in event["message"]
    assert {(n["channel"], n["status"], n["attempts"]) for n in event["notifications"]} == {
        ("hook", "pending", 1),
        ("secret", "pending", 1),
    }
    assert all(n["last_error"] and n["next_attempt_at"] for n in event["notifications"])
    channels = api.client.get("/api/v1/alert-channels")
    assert channels.status_code == 200
    assert SECRET not in channels.text and "bot:****@127.0.0.1" in channels.text
    assert SECRET not in api.client.get(f"/api/v1/apps/{world.app_id}/alert-history").text


def test_team_tokens_read_only_their_teams_alerts(api: Any) -> None:
    world = alert_world(api.writer.db)
    world.rule(name="r", kind="env_down")
    world.channel("json://hooks.example.com/x", "default-team-channel")
    with api.writer.db.write() as conn:
        acme_token = create_team_token(conn, teams.ensure_team(conn, "Acme").id, "ci")
    headers = {"Authorization": f"Bearer {acme_token}"}
    for route in ("alert-rules", "alert-history"):
        response = api.client.get(f"/api/v1/apps/{world.app_id}/{route}", headers=headers)
        assert response.status_code == 404
    assert api.client.get("/api/v1/alert-channels", headers=headers).json() == []
    assert (
        api.client.get("/api/v1/alert-channels", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
