"""An app's Sentry organisation URL, and the link from a server error's Sentry event id to its event."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlsplit

import sqlalchemy as sa

from tallyhub.storage.tables import apps, envs

MAX_URL_CHARS = 500


class InvalidSentryUrl(ValueError):
    """Not an https URL of a Sentry organisation; the message says why."""


def normalised(text: str) -> str | None:
    """The URL as stored (no trailing slash), None for a blank one; InvalidSentryUrl names the problem."""
    url = text.strip().rstrip("/")
    if not url:
        return None
    if len(url) > MAX_URL_CHARS or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidSentryUrl(f"at most {MAX_URL_CHARS} characters, no spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise InvalidSentryUrl("must start with https://")
    if not parts.hostname:
        raise InvalidSentryUrl("must name a host, e.g. https://my-org.sentry.io")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidSentryUrl("no query, fragment or credentials: the organisation's address only")
    return url


def org_url(conn: sa.Connection, app_id: int) -> str | None:
    return conn.execute(sa.select(apps.c.sentry_org_url).where(apps.c.id == app_id)).scalar()


def org_url_of_envs(conn: sa.Connection, env_ids: Sequence[int]) -> str | None:
    """The Sentry organisation URL of the app these envs belong to (envs of one app)."""
    if not env_ids:
        return None
    return conn.execute(
        sa.select(apps.c.sentry_org_url)
        .join_from(envs, apps, apps.c.id == envs.c.app_id)
        .where(envs.c.id == env_ids[0])
    ).scalar()


def set_org_url(conn: sa.Connection, app_id: int, text: str) -> str | None:
    """Store the app's organisation URL (blank clears it); returns what was stored."""
    url = normalised(text)
    conn.execute(apps.update().where(apps.c.id == app_id).values(sentry_org_url=url))
    return url


def event_url(organisation_url: str | None, event_id: str | None) -> str | None:
    """The organisation's issue search for the event id, which Sentry opens at that event; None
    without either."""
    if not organisation_url or not event_id:
        return None
    return f"{organisation_url}/issues/?query={quote(event_id, safe='')}"
