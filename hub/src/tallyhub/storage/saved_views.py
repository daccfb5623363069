"""Saved views of an app: named filter query strings, private to their creator or shared with the team.

The query string is checked before it gets here (tallyhub.analytics.view_filters); this module keeps
names sane and bounded, and answers which views a person (or a team's token, user None) sees.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from tallyhub.storage.tables import saved_views

MAX_NAME = 100
# Bound everything: a person's private views plus the team's shared ones stay a short list in the bar.
MAX_VIEWS_PER_APP = 200


class InvalidView(ValueError):
    """A view cannot be saved as given; `field` names what is wrong for the 4xx answer."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclasses.dataclass(frozen=True)
class SavedView:
    id: int
    app_id: int
    user_id: int | None  # None: made with an API token (always shared)
    name: str
    shared: bool
    query: str
    created_at: float


def _view(row: sa.Row) -> SavedView:
    return SavedView(row.id, row.app_id, row.user_id, row.name, bool(row.shared), row.query, row.created_at)


def _seen_by(user_id: int | None) -> sa.ColumnElement[bool]:
    if user_id is None:
        return saved_views.c.shared.is_(True)
    return sa.or_(saved_views.c.shared.is_(True), saved_views.c.user_id == user_id)


def visible(conn: sa.Connection, app_id: int, user_id: int | None) -> list[SavedView]:
    """The app's views that user sees (the shared ones and their own), by name; user None: shared only."""
    rows = conn.execute(
        sa.select(saved_views)
        .where(saved_views.c.app_id == app_id, _seen_by(user_id))
        .order_by(sa.func.lower(saved_views.c.name), saved_views.c.id)
    )
    return [_view(row) for row in rows]


def get(conn: sa.Connection, app_id: int, view_id: int, user_id: int | None) -> SavedView | None:
    """One of the app's views if that user sees it (others are answered as unknown)."""
    row = conn.execute(
        sa.select(saved_views).where(
            saved_views.c.id == view_id, saved_views.c.app_id == app_id, _seen_by(user_id)
        )
    ).first()
    return _view(row) if row is not None else None


def check_name(name: str) -> str:
    """The name without surrounding blanks; InvalidView when empty, too long or not printable."""
    text = name.strip()
    if not text:
        raise InvalidView("name", "a view needs a name")
    if len(text) > MAX_NAME:
        raise InvalidView("name", f"at most {MAX_NAME} characters")
    if not text.isprintable():
        raise InvalidView("name", "must not contain control characters")
    return text


def create(
    conn: sa.Connection, app_id: int, user_id: int | None, name: str, shared: bool, query: str, now: float
) -> SavedView:
    """Save a view; InvalidView when its name is taken among the views its creator sees, or when full."""
    text = check_name(name)
    if user_id is None and not shared:
        raise InvalidView("shared", "a token belongs to a team, not a person: its views are shared")
    seen = visible(conn, app_id, user_id)
    if any(view.name.lower() == text.lower() for view in seen):
        raise InvalidView("name", f"a view named {text!r} already exists")
    count = conn.execute(
        sa.select(sa.func.count()).select_from(saved_views).where(saved_views.c.app_id == app_id)
    ).scalar_one()
    if count >= MAX_VIEWS_PER_APP:
        raise InvalidView("name", f"the app has {MAX_VIEWS_PER_APP} views, the most it may have")
    values = {"app_id": app_id, "user_id": user_id, "name": text, "shared": shared, "query": query}
    view_id = conn.execute(
        saved_views.insert().values(**values, created_at=now).returning(saved_views.c.id)
    ).scalar_one()
    return SavedView(int(view_id), app_id, user_id, text, shared, query, now)


def delete(conn: sa.Connection, app_id: int, view_id: int) -> bool:
    """Delete one of the app's views; False when it has none with that id."""
    return bool(
        conn.execute(
            saved_views.delete().where(saved_views.c.id == view_id, saved_views.c.app_id == app_id)
        ).rowcount
    )
