"""Teams own apps; memberships give each user one role per team: viewer < member < admin."""

from __future__ import annotations

import dataclasses
import time

import sqlalchemy as sa

# The team of apps created without one: storage.apps puts them there.
from tallyhub.storage.apps import DEFAULT_TEAM as DEFAULT_TEAM
from tallyhub.storage.tables import memberships, teams, users

ROLES = ("viewer", "member", "admin")  # each role may do what the ones before it may


def may_create_teams(is_hub_admin: bool, team_creation: str) -> bool:
    """Whether a user may create a team under the hub's team_creation setting ("admins" or "anyone")."""
    return team_creation == "anyone" or is_hub_admin


@dataclasses.dataclass(frozen=True)
class Team:
    id: int
    name: str


@dataclasses.dataclass(frozen=True)
class Membership:
    team: Team
    role: str


@dataclasses.dataclass(frozen=True)
class Member:
    user_id: int
    email: str
    role: str


def role_at_least(role: str | None, needed: str) -> bool:
    """Whether `role` may do what `needed` may (None, no membership, may do nothing)."""
    return role is not None and ROLES.index(role) >= ROLES.index(needed)


def check_team_name(name: str) -> str:
    value = name.strip()
    if not 1 <= len(value) <= 100:
        raise ValueError("a team name has 1 to 100 characters")
    return value


def team_by_name(conn: sa.Connection, name: str) -> Team | None:
    row = conn.execute(sa.select(teams.c.id, teams.c.name).where(teams.c.name == name.strip())).first()
    return Team(row.id, row.name) if row else None


def get_team(conn: sa.Connection, team_id: int) -> Team | None:
    row = conn.execute(sa.select(teams.c.id, teams.c.name).where(teams.c.id == team_id)).first()
    return Team(row.id, row.name) if row else None


def ensure_team(conn: sa.Connection, name: str) -> Team:
    """The team called `name`, created when missing (call inside a write transaction)."""
    found = team_by_name(conn, check_team_name(name))
    if found is not None:
        return found
    team_id = conn.execute(
        teams.insert().values(name=name.strip(), created_at=time.time()).returning(teams.c.id)
    ).scalar_one()
    return Team(team_id, name.strip())


def team_ids(conn: sa.Connection) -> list[int]:
    """Every team's id."""
    return [int(i) for i in conn.execute(sa.select(teams.c.id).order_by(teams.c.id)).scalars()]


def memberships_of(conn: sa.Connection, user_id: int) -> list[Membership]:
    """The teams of a user with the user's role in each, by team name."""
    rows = conn.execute(
        sa.select(teams.c.id, teams.c.name, memberships.c.role)
        .join(memberships, memberships.c.team_id == teams.c.id)
        .where(memberships.c.user_id == user_id)
        .order_by(teams.c.name)
    ).all()
    return [Membership(Team(r.id, r.name), r.role) for r in rows]


def role_of(conn: sa.Connection, user_id: int, team_id: int) -> str | None:
    return conn.execute(
        sa.select(memberships.c.role).where(
            memberships.c.user_id == user_id, memberships.c.team_id == team_id
        )
    ).scalar()


def set_role(conn: sa.Connection, user_id: int, team_id: int, role: str) -> None:
    """Make the user a member of the team with `role` (adding or changing the membership)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    updated = conn.execute(
        memberships.update()
        .where(memberships.c.user_id == user_id, memberships.c.team_id == team_id)
        .values(role=role)
    ).rowcount
    if not updated:
        conn.execute(
            memberships.insert().values(user_id=user_id, team_id=team_id, role=role, created_at=time.time())
        )


def remove_member(conn: sa.Connection, user_id: int, team_id: int) -> None:
    conn.execute(
        memberships.delete().where(memberships.c.user_id == user_id, memberships.c.team_id == team_id)
    )


def members(conn: sa.Connection, team_id: int) -> list[Member]:
    rows = conn.execute(
        sa.select(users.c.id, users.c.email, memberships.c.role)
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.team_id == team_id)
        .order_by(users.c.email)
    ).all()
    return [Member(r.id, r.email, r.role) for r in rows]


def admin_count(conn: sa.Connection, team_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(memberships)
            .where(memberships.c.team_id == team_id, memberships.c.role == "admin")
        ).scalar_one()
    )
