"""Notification channels of a team: create, rename or re-point, delete, list."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from tallyhub.storage.tables import alert_channels


@dataclasses.dataclass(frozen=True)
class Channel:
    id: int
    team_id: int
    name: str
    kind: str
    url: str  # holds secrets: display channel_urls.masked(url), never this
    created_at: float


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= 100 or "\x00" in cleaned:  # PostgreSQL text cannot hold NUL
        raise ValueError("A channel needs a name of 1 to 100 characters, without NUL.")
    return cleaned


def _channel(row: sa.Row) -> Channel:
    return Channel(row.id, row.team_id, row.name, row.kind, row.url, row.created_at)


def create(conn: sa.Connection, team_id: int, name: str, kind: str, url: str, now: float) -> int:
    return int(
        conn.execute(
            alert_channels.insert()
            .values(team_id=team_id, name=check_name(name), kind=kind, url=url.strip(), created_at=now)
            .returning(alert_channels.c.id)
        ).scalar_one()
    )


def update(conn: sa.Connection, channel_id: int, name: str, kind: str | None, url: str | None) -> None:
    """Rename; with a url (and its kind) also re-point. url None keeps the stored URL and its secrets."""
    values: dict[str, str] = {"name": check_name(name)}
    if url is not None and kind is not None:
        values.update(url=url.strip(), kind=kind)
    conn.execute(alert_channels.update().where(alert_channels.c.id == channel_id).values(**values))


def delete(conn: sa.Connection, channel_id: int) -> None:
    conn.execute(alert_channels.delete().where(alert_channels.c.id == channel_id))


def get(conn: sa.Connection, channel_id: int) -> Channel | None:
    row = conn.execute(sa.select(alert_channels).where(alert_channels.c.id == channel_id)).first()
    return _channel(row) if row is not None else None


def of_teams(conn: sa.Connection, team_ids: list[int]) -> list[Channel]:
    rows = conn.execute(
        sa.select(alert_channels)
        .where(alert_channels.c.team_id.in_(team_ids))
        .order_by(alert_channels.c.name, alert_channels.c.id)
    )
    return [_channel(row) for row in rows]
