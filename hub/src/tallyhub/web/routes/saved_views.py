"""Saving and deleting saved views from a page's filter bar (web/saved_views.py lists and applies them)."""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel
from starlette.responses import RedirectResponse, Response

from tallyhub.accounts.saved_view_rights import may_delete, may_save
from tallyhub.analytics import view_filters
from tallyhub.analytics.query import InvalidParameter
from tallyhub.storage import saved_views as store
from tallyhub.web.access import RowId, SignedIn, WebError, not_found, request_db, require_app
from tallyhub.web.filters import FilterError, Filters, filter_errors
from tallyhub.web.saved_views import PAGES, saved_query

router = APIRouter()


class SaveFields(BaseModel):
    """The save form: the view's name, whether it is shared, the page it was saved on and its filters."""

    name: str = ""
    shared: str = ""  # a checkbox: "on" when ticked
    page: str = ""
    query: str = ""


class BackFields(BaseModel):
    page: str = ""
    query: str = ""


def _back(app_id: int, page: str, query: str) -> str:
    """The page the form was on, with its filters (checked: only a known page, only known filters)."""
    if page not in PAGES:
        raise WebError(400, "Unknown page for a saved view.")
    with filter_errors():
        return Filters.from_query(dict(parse_qsl(query))).href(f"/apps/{app_id}/{page}")


@router.post("/apps/{app_id}/views")
def save_view(
    request: Request, viewer: SignedIn, app_id: RowId, fields: Annotated[SaveFields, Form()]
) -> Response:
    """Save the page's filters as a view: private for any role, shared for members and admins."""
    app = require_app(request, viewer, app_id)
    shared = bool(fields.shared)
    role = viewer.role_in(app.team_id)
    if not may_save(role, shared):
        raise WebError(403, f"Sharing a view needs the member role in the app's team; you are {role}.")
    back = _back(app.id, fields.page, fields.query)
    try:
        query = view_filters.normalise(saved_query(fields.query, PAGES[fields.page]))
        with request_db(request).write() as conn:
            store.create(conn, app.id, viewer.user.id, fields.name, shared, query, time.time())
    except InvalidParameter as exc:
        raise FilterError(exc.param, exc.message) from None
    except store.InvalidView as exc:
        raise WebError(400, f"View {exc.field}: {exc.message}.") from None
    return RedirectResponse(back, status_code=303)


@router.post("/apps/{app_id}/views/{view_id}/delete")
def delete_view(
    request: Request,
    viewer: SignedIn,
    app_id: RowId,
    view_id: RowId,
    fields: Annotated[BackFields, Form()],
) -> Response:
    """Delete a view: its creator may, and a team admin may delete a shared one."""
    app = require_app(request, viewer, app_id)
    back = _back(app.id, fields.page, fields.query)
    role = viewer.role_in(app.team_id)
    with request_db(request).write() as conn:
        view = store.get(conn, app.id, view_id, viewer.user.id)
        if view is None:
            raise not_found()
        if not may_delete(view, viewer.user.id, role):
            raise WebError(403, "Only the view's creator, or a team admin for a shared view, may delete it.")
        store.delete(conn, app.id, view.id)
    return RedirectResponse(back, status_code=303)
