"""Alert rules written through the API: create, change, pause, delete; 422s name the field; team scoping."""

from __future__ import annotations

from typing import Any

import pytest
from tallyhub.accounts import teams
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.alerts import channel_urls as channels
from tallyhub.alerts import channels as alert_channels

P95_RULE = {
    "name": "prod slow",
    "env": "prod",
    "metric": "p95",
    "comparison": ">",
    "threshold": 500,
    "window_seconds": 900,
    "fire_after": 3,
}


def _rules(api: Any) -> str:
    return f"/api/v1/apps/{api.app_id}/alert-rules"


def _channel(api: Any, team: str, name: str = "ops") -> int:
    url = "jsons://hooks.example.com/tallyhub"
    with api.writer.db.write() as conn:
        team_id = teams.ensure_team(conn, team).id
        return alert_channels.create(conn, team_id, name, channels.parse(url).kind, url, 0.0)


def _team_headers(api: Any, team: str) -> dict[str, str]:
    with api.writer.db.write() as conn:
        token = create_team_token(conn, teams.ensure_team(conn, team).id, "ci")
    return {"Authorization": f"Bearer {token}"}


def test_rule_lifecycle(api: Any) -> None:
    ops = _channel(api, teams.DEFAULT_TEAM)
    created = api.client.post(_rules(api), json={**P95_RULE, "channel_ids": [ops]})
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["kind"], rule["metric"], rule["threshold"], rule["window_seconds"]) == (
        "metric",
        "p95",
        500,
        900,
    )
    assert (rule["interval_seconds"], rule["fire_after"], rule["resolve_after"]) == (60, 3, 1)
    assert rule["channel_ids"] == [ops] and rule["paused"] is False and rule["state"] == "ok"
    url = f"{_rules(api)}/{rule['id']}"
    assert api.client.get(url).json() == rule
    assert [r["id"] for r in api.client.get(_rules(api)).json()] == [rule["id"]]

    changed = api.client.patch(
        url, json={"threshold": 750.5, "scope": "endpoint", "scope_value": "get /items/{id}"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["threshold"], changed.json()["scope_value"]) == (750.5, "GET /items/{id}")
    assert changed.json()["channel_ids"] == [ops] and changed.json()["name"] == "prod slow"

    assert api.client.patch(url, json={"paused": True}).json()["paused"] is True
    resumed = api.client.patch(url, json={"paused": False, "channel_ids": []}).json()
    assert resumed["paused"] is False and resumed["channel_ids"] == []
    # null clears an optional field, as an empty field does in the dashboard's form.
    assert api.client.patch(url, json={"scope": None}).json()["scope"] is None

    assert api.client.delete(url).status_code == 204
    assert api.client.get(url).status_code == 404
    assert api.client.delete(url).status_code == 404


def test_built_in_kinds_and_paused_creation(api: Any) -> None:
    down = api.client.post(
        _rules(api), json={"name": "down", "env": "dev", "kind": "env_down", "paused": True}
    )
    assert down.status_code == 201, down.text
    assert (down.json()["kind"], down.json()["env"], down.json()["paused"]) == ("env_down", "dev", True)
    quiet = api.client.post(
        _rules(api),
        json={
            "name": "q",
            "env": "prod",
            "kind": "consumer_quiet",
            "scope": "group",
            "scope_value": "Partners",
        },
    )
    assert quiet.status_code == 201, quiet.text
    assert (quiet.json()["window_seconds"], quiet.json()["baseline_hours"]) == (3600, 6)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"env": "staging"}, "env"),
        ({"kind": "bogus"}, "kind"),
        ({"metric": "p42"}, "metric"),
        ({"metric": None}, "metric"),
        ({"window_seconds": 301}, "window_seconds"),
        ({"interval_seconds": 7}, "interval_seconds"),
        ({"comparison": "=="}, "comparison"),
        ({"threshold": None}, "threshold"),
        ({"threshold": "inf"}, "threshold"),
        ({"threshold": "many"}, "threshold"),
        ({"scope": "planet", "scope_value": "x"}, "scope"),
        ({"scope": "endpoint", "scope_value": "items"}, "scope_value"),
        ({"scope": "consumer"}, "scope_value"),
        ({"metric": "cpu_max", "scope": "consumer", "scope_value": "alice"}, "scope"),
        ({"fire_after": 0}, "fire_after"),
        ({"resolve_after": 10**30}, "resolve_after"),
        ({"name": ""}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"channel_ids": [2**31]}, "channel_ids"),
        ({"channel_ids": [123456]}, "channel_ids"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_rules_are_422_naming_the_field(api: Any, change: dict[str, Any], field: str) -> None:
    created = api.client.post(_rules(api), json={**P95_RULE, **change})
    assert created.status_code == 422, created.text
    assert any(field in error["loc"] for error in created.json()["detail"]), created.text
    assert api.client.get(_rules(api)).json() == []
    # The same change to an existing rule is refused and leaves the rule as it was.
    rule = api.client.post(_rules(api), json=P95_RULE).json()
    patched = api.client.patch(f"{_rules(api)}/{rule['id']}", json=change)
    assert patched.status_code == 422, patched.text
    assert any(field in error["loc"] for error in patched.json()["detail"]), patched.text
    assert api.client.get(f"{_rules(api)}/{rule['id']}").json() == rule


def test_ids_out_of_range_and_unknown(api: Any) -> None:
    assert api.client.get(f"{_rules(api)}/{2**31}").status_code == 422
    assert api.client.patch(f"{_rules(api)}/{2**40}", json={}).status_code == 422
    assert api.client.delete(f"{_rules(api)}/0").status_code == 422
    assert api.client.patch(f"{_rules(api)}/99999", json={"paused": True}).status_code == 404
    assert api.client.post(f"/api/v1/apps/{2**31}/alert-rules", json=P95_RULE).status_code == 422
    assert api.client.post("/api/v1/apps/99999/alert-rules", json=P95_RULE).status_code == 404
    bad_json = api.client.post(_rules(api), content=b"{", headers={"content-type": "application/json"})
    assert bad_json.status_code in (400, 422)


def test_team_tokens_write_only_their_teams_rules_with_their_teams_channels(api: Any) -> None:
    own = _team_headers(api, teams.DEFAULT_TEAM)
    other = _team_headers(api, "Acme")
    acme_channel = _channel(api, "Acme", "acme ops")
    default_channel = _channel(api, teams.DEFAULT_TEAM)
    rule = api.client.post(_rules(api), json=P95_RULE).json()
    url = f"{_rules(api)}/{rule['id']}"
    assert api.client.post(_rules(api), json=P95_RULE, headers=other).status_code == 404
    assert api.client.get(url, headers=other).status_code == 404
    assert api.client.patch(url, json={"paused": True}, headers=other).status_code == 404
    assert api.client.delete(url, headers=other).status_code == 404
    assert api.client.get(url).json()["paused"] is False

    # A channel of another team is refused by name, whoever asks (a CLI token too).
    for headers in (own, {}):
        refused = api.client.patch(url, json={"channel_ids": [acme_channel]}, headers=headers)
        assert refused.status_code == 422 and f"no channel {acme_channel}" in refused.text
    mine = api.client.patch(url, json={"channel_ids": [default_channel]}, headers=own)
    assert mine.status_code == 200 and mine.json()["channel_ids"] == [default_channel]
    assert api.client.delete(url, headers=own).status_code == 204
