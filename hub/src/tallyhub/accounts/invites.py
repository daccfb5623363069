"""One-time links: the setup link that creates the first admin, invitations to join a team, and
password resets (accounts/password_resets.py).

Only the hash of a link's secret is stored; consuming a link is one conditional UPDATE, so a link
works once even when two hub processes receive it at the same moment.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from tallyhub.accounts.hashing import new_secret, secret_hash
from tallyhub.storage.database import Database
from tallyhub.storage.tables import invites

SETUP_SECONDS = 7 * 86400
INVITE_SECONDS = 7 * 86400


@dataclasses.dataclass(frozen=True)
class Invite:
    id: int
    kind: str  # "setup", "invite" or "reset"
    email: str | None
    team_id: int | None
    role: str | None
    expires_at: float


def create_setup_link(db: Database, now: float) -> str:
    """A new setup secret; earlier unused setup links stop working."""
    secret = new_secret()
    with db.write() as conn:
        conn.execute(invites.delete().where(invites.c.kind == "setup", invites.c.used_at.is_(None)))
        conn.execute(
            invites.insert().values(
                token_hash=secret_hash(secret), kind="setup", created_at=now, expires_at=now + SETUP_SECONDS
            )
        )
    return secret


def create_invite(conn: sa.Connection, email: str, team_id: int, role: str, now: float) -> str:
    """A new invitation secret for `email` to join a team with `role`; an earlier pending invitation
    of the same address to the same team stops working."""
    secret = new_secret()
    conn.execute(
        invites.delete().where(
            invites.c.kind == "invite",
            invites.c.email == email,
            invites.c.team_id == team_id,
            invites.c.used_at.is_(None),
        )
    )
    conn.execute(
        invites.insert().values(
            token_hash=secret_hash(secret),
            kind="invite",
            email=email,
            team_id=team_id,
            role=role,
            created_at=now,
            expires_at=now + INVITE_SECONDS,
        )
    )
    return secret


def _live(secret: str, now: float) -> sa.ColumnElement[bool]:
    return sa.and_(
        invites.c.token_hash == secret_hash(secret), invites.c.used_at.is_(None), invites.c.expires_at > now
    )


def peek(conn: sa.Connection, secret: str, now: float) -> Invite | None:
    """The unused, unexpired link with this secret, or None."""
    row = conn.execute(sa.select(invites).where(_live(secret, now))).first()
    return Invite(row.id, row.kind, row.email, row.team_id, row.role, row.expires_at) if row else None


def consume(conn: sa.Connection, secret: str, now: float) -> Invite | None:
    """Mark the link used and return it; None when it is unknown, used or expired."""
    found = peek(conn, secret, now)
    if found is None:
        return None
    used = conn.execute(
        invites.update().where(invites.c.id == found.id, _live(secret, now)).values(used_at=now)
    ).rowcount
    return found if used == 1 else None


def pending_invites(conn: sa.Connection, team_id: int, now: float) -> list[Invite]:
    rows = conn.execute(
        sa.select(invites)
        .where(
            invites.c.team_id == team_id,
            invites.c.kind == "invite",
            invites.c.used_at.is_(None),
            invites.c.expires_at > now,
        )
        .order_by(invites.c.id)
    ).all()
    return [Invite(r.id, r.kind, r.email, r.team_id, r.role, r.expires_at) for r in rows]


def revoke(conn: sa.Connection, invite_id: int, team_id: int) -> None:
    conn.execute(invites.delete().where(invites.c.id == invite_id, invites.c.team_id == team_id))
