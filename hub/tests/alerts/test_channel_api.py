"""Channels written through the API: Apprise-checked URLs, secrets kept and never shown, test sends, teams."""

from __future__ import annotations

from typing import Any

from tallyhub.accounts import teams
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.alerts import channels as alert_channels

from tests.support.receivers import webhook

SECRET = "s3cr3t-token-value"
SECRET_URL = f"json://bot:{SECRET}@127.0.0.1:9/none"
CHANNELS = "/api/v1/alert-channels"


def _team(api: Any, name: str) -> tuple[int, dict[str, str]]:
    with api.writer.db.write() as conn:
        team_id = teams.ensure_team(conn, name).id
        token = create_team_token(conn, team_id, "ci")
    return team_id, {"Authorization": f"Bearer {token}"}


def _stored_url(api: Any, channel_id: int) -> str:
    with api.writer.db.read() as conn:
        channel = alert_channels.get(conn, channel_id)
    assert channel is not None
    return channel.url


def _field_of(response: Any) -> str:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    return str(error["loc"][-1])


def test_channel_lifecycle_keeps_secrets_and_sends_tests(api: Any) -> None:
    default_team, _ = _team(api, teams.DEFAULT_TEAM)
    created = api.client.post(CHANNELS, json={"name": "bot", "url": SECRET_URL, "team_id": default_team})
    assert created.status_code == 201, created.text
    channel = created.json()
    assert (channel["name"], channel["kind"], channel["team_id"]) == ("bot", "webhook", default_team)
    assert SECRET not in created.text and "bot:****@127.0.0.1" in channel["url"]
    url = f"{CHANNELS}/{channel['id']}"
    assert api.client.get(url).json() == channel
    assert SECRET not in api.client.get(CHANNELS).text

    renamed = api.client.patch(url, json={"name": "  on-call  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "on-call"
    assert _stored_url(api, channel["id"]) == SECRET_URL  # no url: the stored one and its secret stay

    failed = api.client.post(f"{url}/test")
    assert failed.status_code == 200 and failed.json()["delivered"] is False
    assert failed.json()["error"] and SECRET not in failed.text
    with webhook() as hook:
        repointed = api.client.patch(url, json={"url": hook.apprise_url})
        assert repointed.status_code == 200 and repointed.json()["kind"] == "webhook"
        delivered = api.client.post(f"{url}/test")
        assert delivered.json() == {"delivered": True, "error": None}
        assert hook.titles() == ["Tallyhub test notification"]

    assert api.client.delete(url).status_code == 204
    assert api.client.get(url).status_code == 404
    assert api.client.post(f"{url}/test").status_code == 404
    assert api.client.get(CHANNELS).json() == []


def test_bad_channels_are_422_naming_the_problem(api: Any) -> None:
    default_team, _ = _team(api, teams.DEFAULT_TEAM)
    base = {"name": "ops", "url": "jsons://hooks.example.com/x", "team_id": default_team}
    unknown_scheme = api.client.post(CHANNELS, json={**base, "url": "nope://hooks.example.com"})
    assert (
        _field_of(unknown_scheme) == "url" and "Apprise cannot read this nope:// URL" in unknown_scheme.text
    )
    # A URL Apprise rejects is echoed masked at most: it may hold a secret.
    bad_mail = api.client.post(CHANNELS, json={**base, "url": f"mailto://{SECRET}"})
    assert _field_of(bad_mail) == "url" and SECRET not in bad_mail.text
    assert _field_of(api.client.post(CHANNELS, json={**base, "url": "no scheme"})) == "url"
    assert _field_of(api.client.post(CHANNELS, json={**base, "url": "json://a\x00b"})) == "url"
    assert _field_of(api.client.post(CHANNELS, json={**base, "name": " "})) == "name"
    assert _field_of(api.client.post(CHANNELS, json={**base, "name": "a" * 101})) == "name"
    assert _field_of(api.client.post(CHANNELS, json={**base, "team_id": 99999})) == "team_id"
    assert _field_of(api.client.post(CHANNELS, json={**base, "team_id": 2**31})) == "team_id"
    cli_without_team = api.client.post(CHANNELS, json={"name": "ops", "url": base["url"]})
    assert (
        _field_of(cli_without_team) == "team_id" and "must name the channel's team" in cli_without_team.text
    )
    assert api.client.get(CHANNELS).json() == []

    channel = api.client.post(CHANNELS, json=base).json()
    url = f"{CHANNELS}/{channel['id']}"
    assert _field_of(api.client.patch(url, json={"url": "nope://x"})) == "url"
    assert _field_of(api.client.patch(url, json={"name": ""})) == "name"
    assert api.client.get(url).json() == channel
    for bad_id in ("0", str(2**31), "x"):
        assert api.client.get(f"{CHANNELS}/{bad_id}").status_code == 422
    assert api.client.patch(f"{CHANNELS}/99999", json={"name": "x"}).status_code == 404


def test_team_tokens_reach_only_their_teams_channels(api: Any) -> None:
    acme, acme_headers = _team(api, "Acme")
    default_team, default_headers = _team(api, teams.DEFAULT_TEAM)
    mine = api.client.post(
        CHANNELS, json={"name": "acme", "url": "ntfys://ntfy.sh/acme"}, headers=acme_headers
    )
    assert mine.status_code == 201 and (mine.json()["team_id"], mine.json()["kind"]) == (acme, "ntfy")
    same_team = api.client.post(
        CHANNELS, json={"name": "acme 2", "url": "ntfys://ntfy.sh/a2", "team_id": acme}, headers=acme_headers
    )
    assert same_team.status_code == 201
    other_team = api.client.post(
        CHANNELS,
        json={"name": "x", "url": "ntfys://ntfy.sh/x", "team_id": default_team},
        headers=acme_headers,
    )
    assert _field_of(other_team) == "team_id"
    theirs = api.client.post(
        CHANNELS, json={"name": "d", "url": "ntfys://ntfy.sh/d", "team_id": default_team}
    )
    assert theirs.status_code == 201

    assert [c["name"] for c in api.client.get(CHANNELS, headers=acme_headers).json()] == ["acme", "acme 2"]
    assert [c["name"] for c in api.client.get(CHANNELS, headers=default_headers).json()] == ["d"]
    assert len(api.client.get(CHANNELS).json()) == 3  # a CLI token reaches every team's
    url = f"{CHANNELS}/{theirs.json()['id']}"
    assert api.client.get(url, headers=acme_headers).status_code == 404
    assert api.client.patch(url, json={"name": "mine now"}, headers=acme_headers).status_code == 404
    assert api.client.post(f"{url}/test", headers=acme_headers).status_code == 404
    assert api.client.delete(url, headers=acme_headers).status_code == 404
    assert api.client.get(url, headers=default_headers).json()["name"] == "d"
    assert api.client.delete(url, headers=default_headers).status_code == 204
