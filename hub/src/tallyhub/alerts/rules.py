"""Alert rules of an app's environments and the channels each notifies: create, edit, pause, delete, list."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from tallyhub.alerts.rule_spec import RuleSpec
from tallyhub.alerts.schedule import first_check
from tallyhub.storage.tables import alert_channels, alert_rule_channels, alert_rules, apps, envs


@dataclasses.dataclass(frozen=True)
class Rule(RuleSpec):
    """A rule as stored: what it says (RuleSpec), its app and env, evaluation state and channel ids."""

    id: int
    app_id: int
    app_name: str
    team_id: int | None
    env_id: int
    paused: bool
    created_at: float
    next_check_at: float
    state: str
    breach_streak: int
    good_streak: int
    breaching_since: float | None
    last_value: float | None
    last_checked_at: float | None
    channel_ids: tuple[int, ...] = ()


_FIELDS = [f.name for f in dataclasses.fields(Rule)]


def _select() -> sa.Select:
    return (
        sa.select(
            alert_rules,
            envs.c.app_id,
            envs.c.name.label("env"),
            apps.c.name.label("app_name"),
            apps.c.team_id,
        )
        .join_from(alert_rules, envs, envs.c.id == alert_rules.c.env_id)
        .join(apps, apps.c.id == envs.c.app_id)
    )


def _channel_ids(conn: sa.Connection, rule_ids: list[int]) -> dict[int, tuple[int, ...]]:
    found: dict[int, list[int]] = {}
    if rule_ids:
        rows = conn.execute(
            sa.select(alert_rule_channels.c.rule_id, alert_rule_channels.c.channel_id)
            .where(alert_rule_channels.c.rule_id.in_(rule_ids))
            .order_by(alert_rule_channels.c.channel_id)
        )
        for rule_id, channel_id in rows:
            found.setdefault(rule_id, []).append(channel_id)
    return {rule_id: tuple(ids) for rule_id, ids in found.items()}


def _rules(conn: sa.Connection, query: sa.Select) -> list[Rule]:
    rows = conn.execute(query).all()
    channels = _channel_ids(conn, [row.id for row in rows])
    mapping = [row._mapping for row in rows]
    return [
        Rule(**{f: m[f] for f in _FIELDS if f != "channel_ids"}, channel_ids=channels.get(m["id"], ()))
        for m in mapping
    ]


def get(conn: sa.Connection, rule_id: int) -> Rule | None:
    found = _rules(conn, _select().where(alert_rules.c.id == rule_id))
    return found[0] if found else None


def of_app(conn: sa.Connection, app_id: int) -> list[Rule]:
    return _rules(
        conn, _select().where(envs.c.app_id == app_id).order_by(alert_rules.c.name, alert_rules.c.id)
    )


def _values(spec: RuleSpec, env_id: int) -> dict[str, Any]:
    fields = dataclasses.asdict(spec)
    fields.pop("env")
    return {**fields, "env_id": env_id}


def _env_id(conn: sa.Connection, app_id: int, env: str) -> int:
    found = conn.execute(sa.select(envs.c.id).where(envs.c.app_id == app_id, envs.c.name == env)).scalar()
    if found is None:
        raise ValueError(f"the app has no environment {env!r}")
    return int(found)


def team_channels(conn: sa.Connection, team_id: int | None, channel_ids: Iterable[int]) -> set[int]:
    """Those of these channel ids that are channels of the team (the only ones a rule of its apps may use)."""
    return set(
        conn.execute(
            sa.select(alert_channels.c.id).where(
                alert_channels.c.team_id == team_id, alert_channels.c.id.in_(set(channel_ids))
            )
        ).scalars()
    )


def set_channels(conn: sa.Connection, rule_id: int, team_id: int | None, channel_ids: Iterable[int]) -> None:
    """Link the rule to these channels (only channels of the app's team; others are ignored)."""
    allowed = team_channels(conn, team_id, channel_ids)
    conn.execute(alert_rule_channels.delete().where(alert_rule_channels.c.rule_id == rule_id))
    if allowed:
        conn.execute(
            alert_rule_channels.insert(), [{"rule_id": rule_id, "channel_id": c} for c in sorted(allowed)]
        )


def create(conn: sa.Connection, app_id: int, spec: RuleSpec, now: float) -> int:
    """A new rule, first checked at once (with a schedule: at its first scheduled minute)."""
    values = _values(spec, _env_id(conn, app_id, spec.env))
    return int(
        conn.execute(
            alert_rules.insert()
            .values(**values, created_at=now, next_check_at=first_check(spec.schedule, spec.timezone, now))
            .returning(alert_rules.c.id)
        ).scalar_one()
    )


def update(conn: sa.Connection, rule_id: int, app_id: int, spec: RuleSpec, now: float) -> None:
    """Change what a rule watches: the streaks start over (a firing rule stays firing until it resolves)."""
    values = _values(spec, _env_id(conn, app_id, spec.env))
    conn.execute(
        alert_rules.update()
        .where(alert_rules.c.id == rule_id)
        .values(
            **values,
            next_check_at=first_check(spec.schedule, spec.timezone, now),
            breach_streak=0,
            good_streak=0,
        )
    )


def set_paused(conn: sa.Connection, rule_id: int, paused: bool, now: float) -> None:
    """Pause (no checks, no notifications) or resume (checked at once or at the schedule's next minute,
    streaks from zero)."""
    schedule, tz_name = conn.execute(
        sa.select(alert_rules.c.schedule, alert_rules.c.timezone).where(alert_rules.c.id == rule_id)
    ).one()
    conn.execute(
        alert_rules.update()
        .where(alert_rules.c.id == rule_id)
        .values(
            paused=paused, next_check_at=first_check(schedule, tz_name, now), breach_streak=0, good_streak=0
        )
    )


def delete(conn: sa.Connection, rule_id: int) -> None:
    conn.execute(alert_rules.delete().where(alert_rules.c.id == rule_id))
