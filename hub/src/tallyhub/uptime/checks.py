"""Health checks of an app's envs: validation of what a person enters, and their rows.

Shared by the dashboard forms and the API, so both reject the same input with the same words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from tallyhub.outbound.policy import Policy, Refused
from tallyhub.storage.tables import envs, health_check_results, health_checks
from tallyhub.uptime.incidents import HEALTH_CHECK, HEARTBEAT, close_incident

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_INTERVAL_SECONDS = 60
DEFAULT_TIMEOUT_SECONDS = 5.0
# Two attempts and the pause between them stay within 30 s, so a hanging target holds a worker no longer.
MAX_TIMEOUT_SECONDS = 14.0
MAX_URL_CHARS = 2000
MAX_BODY_TEXT_CHARS = 1000


class InvalidField(ValueError):
    """A field of a health check is wrong: `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclasses.dataclass(frozen=True)
class CheckSpec:
    """What a person sets on a health check (everything but its env and schedule)."""

    url: str
    method: str = "GET"
    expected_status: int = 200
    body_contains: str | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS


def _number(field: str, raw: Any, kind: type[int] | type[float], low: float, high: float) -> Any:
    if isinstance(raw, bool):
        raise InvalidField(field, f"{raw!r} is not a number")
    try:
        value = kind(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise InvalidField(
            field, f"{raw!r} is not {'a whole number' if kind is int else 'a number'}"
        ) from None
    if kind is int and isinstance(raw, float) and raw != value:
        raise InvalidField(field, f"{raw!r} is not a whole number")
    if not low <= value <= high:
        raise InvalidField(field, f"must be between {low:g} and {high:g}, not {value:g}")
    return value


def validate(raw: Mapping[str, Any], policy: Policy) -> CheckSpec:
    """A CheckSpec from form or JSON values (missing keys take their defaults); InvalidField if wrong,
    including a URL whose host the outbound policy refuses (checked again at every run)."""
    url = str(raw.get("url") or "").strip()
    parts = urlsplit(url)
    if not url:
        raise InvalidField("url", "is required")
    if len(url) > MAX_URL_CHARS:
        raise InvalidField("url", f"has more than {MAX_URL_CHARS} characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidField("url", "may not contain spaces or control characters")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("url", f"{url!r} is not an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise InvalidField("url", f"{url!r} has an invalid port") from None
    try:
        policy.check_at_setup(parts.hostname, parts.port)
    except Refused as exc:
        raise InvalidField("url", f"is refused: {exc}") from None
    method = str(raw.get("method") or "GET").strip().upper()
    if method not in METHODS:
        raise InvalidField("method", f"{method!r} is not one of {', '.join(METHODS)}")
    body = raw.get("body_contains")
    body_text = str(body) if body not in (None, "") else None
    if body_text is not None and len(body_text) > MAX_BODY_TEXT_CHARS:
        raise InvalidField("body_contains", f"has more than {MAX_BODY_TEXT_CHARS} characters")
    if body_text is not None and "\x00" in body_text:  # PostgreSQL text cannot hold NUL
        raise InvalidField("body_contains", "may not contain NUL characters")

    def given(name: str, default: Any) -> Any:
        value = raw.get(name)
        return default if value is None or value == "" else value

    return CheckSpec(
        url=url,
        method=method,
        expected_status=_number("expected_status", given("expected_status", 200), int, 100, 599),
        body_contains=body_text,
        timeout_seconds=_number(
            "timeout_seconds",
            given("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
            float,
            0.1,
            MAX_TIMEOUT_SECONDS,
        ),
        interval_seconds=_number(
            "interval_seconds", given("interval_seconds", DEFAULT_INTERVAL_SECONDS), int, 10, 86400
        ),
    )


def create(conn: sa.Connection, env_id: int, spec: CheckSpec, now: float) -> int:
    """Store a check, due at once; returns its id."""
    values = dataclasses.asdict(spec) | {
        "env_id": env_id,
        "paused": False,
        "created_at": now,
        "next_run_at": now,
    }
    return int(
        conn.execute(health_checks.insert().values(**values).returning(health_checks.c.id)).scalar_one()
    )


def update(conn: sa.Connection, check_id: int, spec: CheckSpec, now: float) -> None:
    """Change a check; it runs again at once, so the page soon shows the new settings' result."""
    conn.execute(
        health_checks.update()
        .where(health_checks.c.id == check_id)
        .values(**dataclasses.asdict(spec), next_run_at=now)
    )


def set_paused(conn: sa.Connection, check_id: int, paused: bool, now: float) -> None:
    """Pause (its open incident ends: a paused check says nothing about the env) or resume a check."""
    row = conn.execute(sa.select(health_checks.c.env_id).where(health_checks.c.id == check_id)).first()
    if row is None:
        return
    conn.execute(
        health_checks.update().where(health_checks.c.id == check_id).values(paused=paused, next_run_at=now)
    )
    if paused:
        close_incident(conn, row.env_id, HEALTH_CHECK, check_id, now)


def delete(conn: sa.Connection, check_id: int) -> None:
    """Delete a check with its results and incidents."""
    conn.execute(health_checks.delete().where(health_checks.c.id == check_id))


def checks_of_app(conn: sa.Connection, app_id: int, check_id: int | None = None) -> list[dict[str, Any]]:
    """The app's checks (or the one given) with their env name and latest result, by env then id."""
    query = (
        sa.select(health_checks, envs.c.name.label("env"))
        .join(envs, envs.c.id == health_checks.c.env_id)
        .where(envs.c.app_id == app_id)
        .order_by(envs.c.name, health_checks.c.id)
    )
    if check_id is not None:
        query = query.where(health_checks.c.id == check_id)
    # One indexed lookup per check for its latest result: an app has a handful of checks.
    found = []
    for row in conn.execute(query).all():
        last = conn.execute(
            sa.select(health_check_results)
            .where(health_check_results.c.check_id == row.id)
            .order_by(health_check_results.c.checked_at.desc(), health_check_results.c.id.desc())
            .limit(1)
        ).first()
        found.append({**row._asdict(), "last_result": last._asdict() if last is not None else None})
    return found


def set_heartbeat(conn: sa.Connection, env_id: int, enabled: bool, now: float) -> None:
    """Switch heartbeat monitoring of an env on or off (off ends its open heartbeat incident now)."""
    conn.execute(envs.update().where(envs.c.id == env_id).values(heartbeat_enabled=enabled))
    if not enabled:
        close_incident(conn, env_id, HEARTBEAT, None, now)
