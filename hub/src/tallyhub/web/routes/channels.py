"""Notification channels of a team (admins create, edit, test and delete; members see them masked)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from tallyhub.accounts import teams as team_store
from tallyhub.alerts import channel_urls as apprise_channels
from tallyhub.alerts import channels as alert_channels
from tallyhub.alerts import delivery
from tallyhub.alerts import history as alert_history
from tallyhub.web.access import (
    FormStr,
    RowId,
    SignedIn,
    Viewer,
    WebError,
    request_db,
    request_policy,
    require_team,
)
from tallyhub.web.templating import render

router = APIRouter()
NOTICES = {
    "created": "The channel was created.",
    "saved": "The channel was saved.",
    "deleted": "The channel was deleted.",
}


def _page(
    request: Request,
    viewer: Viewer,
    team: team_store.Team,
    status_code: int = 200,
    notice: str | None = None,
    error: str | None = None,
    form_name: str = "",
) -> Response:
    with request_db(request).read() as conn:
        listed = alert_channels.of_teams(conn, [team.id])
    return render(
        request,
        "channels.html",
        status_code=status_code,
        team=team,
        channels=[(c, apprise_channels.masked(c.url)) for c in listed],
        examples=apprise_channels.EXAMPLES,
        is_admin=viewer.role_in(team.id) == "admin",
        notice=notice,
        error=error,
        form_name=form_name,
    )


def _channel_of(request: Request, team: team_store.Team, channel_id: int) -> alert_channels.Channel:
    with request_db(request).read() as conn:
        channel = alert_channels.get(conn, channel_id)
    if channel is None or channel.team_id != team.id:
        raise WebError(404, "No such channel.")
    return channel


@router.get("/teams/{team_id}/channels")
def channels_page(request: Request, viewer: SignedIn, team_id: RowId, notice: str = "") -> Response:
    return _page(request, viewer, require_team(viewer, team_id), notice=NOTICES.get(notice))


@router.post("/teams/{team_id}/channels")
def create_channel(
    request: Request, viewer: SignedIn, team_id: RowId, name: FormStr = "", url: FormStr = ""
) -> Response:
    team = require_team(viewer, team_id, "admin")
    try:
        parsed = apprise_channels.validate(url, request_policy(request))
        with request_db(request).write() as conn:
            alert_channels.create(conn, team.id, name, parsed.kind, url, time.time())
    except ValueError as exc:  # ChannelError or a bad name
        return _page(request, viewer, team, status_code=400, error=str(exc), form_name=name)
    return RedirectResponse(f"/teams/{team.id}/channels?notice=created", status_code=303)


def _edit_page(
    request: Request,
    team: team_store.Team,
    channel: alert_channels.Channel,
    status_code: int = 200,
    **shown: str | None,
) -> Response:
    with request_db(request).read() as conn:
        recent = alert_history.recent_of_channel(conn, channel.id)
    return render(
        request,
        "channel_edit.html",
        status_code=status_code,
        team=team,
        channel=channel,
        masked=apprise_channels.masked(channel.url),
        recent=recent,
        error=shown.get("error"),
        notice=shown.get("notice"),
    )


@router.get("/teams/{team_id}/channels/{channel_id}")
def edit_channel(request: Request, viewer: SignedIn, team_id: RowId, channel_id: RowId) -> Response:
    team = require_team(viewer, team_id, "admin")
    return _edit_page(request, team, _channel_of(request, team, channel_id))


@router.post("/teams/{team_id}/channels/{channel_id}")
def update_channel(
    request: Request,
    viewer: SignedIn,
    team_id: RowId,
    channel_id: RowId,
    name: FormStr = "",
    url: FormStr = "",
) -> Response:
    team = require_team(viewer, team_id, "admin")
    channel = _channel_of(request, team, channel_id)
    try:
        # An empty URL field keeps the stored URL (and its secrets, which the page never shows).
        kind = apprise_channels.validate(url, request_policy(request)).kind if url.strip() else None
        with request_db(request).write() as conn:
            alert_channels.update(conn, channel.id, name, kind, url if url.strip() else None)
    except ValueError as exc:
        return _edit_page(request, team, channel, status_code=400, error=str(exc))
    return RedirectResponse(f"/teams/{team.id}/channels?notice=saved", status_code=303)


@router.post("/teams/{team_id}/channels/{channel_id}/test")
async def test_channel(request: Request, viewer: SignedIn, team_id: RowId, channel_id: RowId) -> Response:
    team = require_team(viewer, team_id, "admin")
    channel = await run_in_threadpool(_channel_of, request, team, channel_id)
    # The send runs in the delivery pool (the team's share of it); this route awaits it without
    # holding a request thread, and answers within delivery.TEST_WAIT_SECONDS.
    delivered, error = await delivery.await_test(
        request_db(request),
        request.app.state.delivery_pool,
        team.id,
        channel.id,
        channel.url,
        time.time(),
        request_policy(request),
    )
    if delivered:
        return await run_in_threadpool(
            _edit_page, request, team, channel, notice="The test notification was delivered."
        )
    shown = error if error in (delivery.TEST_STILL_SENDING, delivery.TEST_ALREADY_RUNNING) else None
    message = f"The test notification failed: {error}" if shown is None else shown.capitalize() + "."
    return await run_in_threadpool(_edit_page, request, team, channel, error=message)


@router.post("/teams/{team_id}/channels/{channel_id}/delete")
def delete_channel(request: Request, viewer: SignedIn, team_id: RowId, channel_id: RowId) -> Response:
    team = require_team(viewer, team_id, "admin")
    channel = _channel_of(request, team, channel_id)
    with request_db(request).write() as conn:
        alert_channels.delete(conn, channel.id)
    return RedirectResponse(f"/teams/{team.id}/channels?notice=deleted", status_code=303)
