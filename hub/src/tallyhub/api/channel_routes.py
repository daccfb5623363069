"""Notification channels in the API: list, create, change, delete, send a test; URLs never shown in full.

A team token reaches only its team's channels (others are answered as unknown); a CLI token reaches
every team's and names the team of a channel it creates. A URL is checked by Apprise
(alerts.channel_urls), as in the dashboard.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from tallyhub.accounts import teams as team_store
from tallyhub.alerts import channel_urls as apprise_channels
from tallyhub.alerts import channels as alert_channels
from tallyhub.alerts import delivery
from tallyhub.api import models
from tallyhub.api.alert_models import Channel, ChannelCreate, ChannelPatch, DeliveryResult
from tallyhub.api.auth import Caller, require_token
from tallyhub.api.deps import get_db, get_policy
from tallyhub.api.params import MAX_INT32, invalid_field
from tallyhub.outbound.policy import Policy
from tallyhub.storage.database import Database

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(require_token)],
    tags=["alerts"],
    responses={
        401: {"model": models.Problem, "description": "Missing or unknown token."},
        404: {"model": models.Problem, "description": "Unknown channel."},
    },
)
Db = Annotated[Database, Depends(get_db)]
Token = Annotated[Caller, Depends(require_token)]
OutboundPolicy = Annotated[Policy, Depends(get_policy)]
ChannelId = Annotated[int, PathParam(ge=1, le=MAX_INT32, description="The channel's id.")]


def _channel_json(conn: sa.Connection, channel: alert_channels.Channel) -> dict[str, Any]:
    team = team_store.get_team(conn, channel.team_id)
    return {
        "id": channel.id,
        "team": team.name if team is not None else "",
        "team_id": channel.team_id,
        "name": channel.name,
        "kind": channel.kind,
        "url": apprise_channels.masked(channel.url),
    }


def _one_channel(conn: sa.Connection, caller: Caller, channel_id: int) -> alert_channels.Channel:
    channel = alert_channels.get(conn, channel_id)
    if channel is None or not caller.may_read(channel.team_id):
        raise HTTPException(404, f"alert channel {channel_id} not found")
    return channel


def _team_of_new_channel(conn: sa.Connection, caller: Caller, team_id: int | None) -> int:
    if team_id is None:
        if caller.team_id is None:
            raise invalid_field("body", "team_id", "a CLI token must name the channel's team", None)
        return caller.team_id
    if team_store.get_team(conn, team_id) is None or not caller.may_read(team_id):
        raise invalid_field("body", "team_id", f"no team {team_id}", team_id)
    return team_id


def _name(name: str) -> str:
    try:
        return alert_channels.check_name(name)
    except ValueError as exc:
        raise invalid_field("body", "name", str(exc), name) from None


def _kind(url: str, policy: Policy) -> str:
    try:
        return apprise_channels.validate(url, policy).kind
    except apprise_channels.ChannelError as exc:
        # The input is echoed masked at most: it may hold a password or token.
        raise invalid_field("body", "url", str(exc), apprise_channels.masked(url)) from None


@router.get("/alert-channels", response_model=list[Channel])
def list_channels(db: Db, caller: Token) -> list[dict[str, Any]]:
    """The notification channels of the token's team (every team's for a CLI token), secrets hidden."""
    with db.read() as conn:
        team_ids = team_store.team_ids(conn) if caller.team_id is None else [caller.team_id]
        return [_channel_json(conn, c) for c in alert_channels.of_teams(conn, team_ids)]


@router.get("/alert-channels/{channel_id}", response_model=Channel)
def get_channel(channel_id: ChannelId, db: Db, caller: Token) -> dict[str, Any]:
    """One channel, its URL's secrets hidden."""
    with db.read() as conn:
        return _channel_json(conn, _one_channel(conn, caller, channel_id))


@router.post("/alert-channels", response_model=Channel, status_code=201, responses=models.BAD_JSON)
def create_channel(body: ChannelCreate, db: Db, caller: Token, policy: OutboundPolicy) -> dict[str, Any]:
    """Add a channel: an Apprise URL (e-mail, Slack, Teams, Discord, Telegram, ntfy, PagerDuty, webhook…).

    Apprise checks the URL, and the hub's outbound policy its host; 422 says what is wrong with it.
    The answer shows the URL masked.
    """
    name, kind = _name(body.name), _kind(body.url, policy)
    with db.write() as conn:
        team_id = _team_of_new_channel(conn, caller, body.team_id)
        channel_id = alert_channels.create(conn, team_id, name, kind, body.url, time.time())
        return _channel_json(conn, _one_channel(conn, caller, channel_id))


@router.patch("/alert-channels/{channel_id}", response_model=Channel, responses=models.BAD_JSON)
def patch_channel(
    channel_id: ChannelId, body: ChannelPatch, db: Db, caller: Token, policy: OutboundPolicy
) -> dict[str, Any]:
    """Rename a channel and/or point it at a new URL; without url the stored URL (and its secrets) stays."""
    kind = _kind(body.url, policy) if body.url is not None else None
    with db.write() as conn:
        channel = _one_channel(conn, caller, channel_id)
        name = _name(body.name) if body.name is not None else channel.name
        alert_channels.update(conn, channel.id, name, kind, body.url)
        return _channel_json(conn, _one_channel(conn, caller, channel_id))


@router.delete("/alert-channels/{channel_id}", status_code=204)
def delete_channel(channel_id: ChannelId, db: Db, caller: Token) -> Response:
    """Delete a channel; rules that notified it no longer do."""
    with db.write() as conn:
        alert_channels.delete(conn, _one_channel(conn, caller, channel_id).id)
    return Response(status_code=204)


@router.post("/alert-channels/{channel_id}/test", response_model=DeliveryResult)
async def test_channel(
    channel_id: ChannelId, request: Request, db: Db, caller: Token, policy: OutboundPolicy
) -> dict[str, Any]:
    """Send a test notification now and answer whether it was delivered (kept in the channel's history).

    The send runs in the hub's delivery pool; the answer comes within 14 s, saying so when the send
    is still under way then.
    """

    def lookup() -> alert_channels.Channel:
        with db.read() as conn:
            return _one_channel(conn, caller, channel_id)

    channel = await run_in_threadpool(lookup)
    pool = request.app.state.delivery_pool
    delivered, error = await delivery.await_test(
        db, pool, channel.team_id, channel.id, channel.url, time.time(), policy
    )
    return {"delivered": delivered, "error": error}
