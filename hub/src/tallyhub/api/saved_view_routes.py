"""Saved views in the API: the team's shared views of an app, listed, made and deleted with a token.

A token belongs to a team, not to a person, so it sees and makes the views shared with the team; the
private views people keep in the dashboard stay theirs. Read-only tokens may list (require_token answers
their POST and DELETE 403), a team token reaches only its team's apps. The filters are checked as the
dashboard's (tallyhub.analytics.view_filters): unknown keys and bad values are a 422 naming them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from tallyhub.analytics import view_filters
from tallyhub.analytics.query import InvalidParameter
from tallyhub.api import models
from tallyhub.api.auth import Caller, readable_app, require_token
from tallyhub.api.deps import get_db
from tallyhub.api.params import MAX_INT32, AppId, invalid_field
from tallyhub.storage import saved_views as store
from tallyhub.storage.database import Database

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": models.Problem, "description": "Missing or unknown token."},
    403: {"model": models.Problem, "description": "A read-only token tried to write."},
    404: {"model": models.Problem, "description": "Unknown app or view."},
}
router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(require_token)], tags=["saved views"], responses=_ERRORS
)
Db = Annotated[Database, Depends(get_db)]
Token = Annotated[Caller, Depends(require_token)]
ViewId = Annotated[int, Path(ge=1, le=MAX_INT32, description="The view's id (GET .../views).")]


class SavedView(BaseModel):
    id: int
    name: str
    shared: bool = Field(description="Always true here: the API lists the views shared with the team.")
    filters: dict[str, str] = Field(
        description="The view's filters (env, period, start, end, consumer, group, method, path, status)."
    )
    query: str = Field(description="The filters as a dashboard query string (append to a page's URL).")
    created_at: str
    created_with_token: bool = Field(description="Made with an API token rather than by a person.")


class NewView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(description="1-100 characters, unique among the team's shared views.")
    filters: dict[str, StrictStr] = Field(
        description="Filter keys as the dashboard's URL spells them, e.g. "
        '{"env": "prod", "period": "7d", "path": "/v1/**"}.'
    )
    shared: StrictBool = Field(True, description="Must be true: a token's views are the team's.")


def _require_app(conn: sa.Connection, app_id: int, caller: Caller) -> None:
    if not readable_app(conn, caller, app_id):
        raise HTTPException(404, f"app {app_id} not found")


def _json(view: store.SavedView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "shared": view.shared,
        "filters": dict(parse_qsl(view.query)),
        "query": view.query,
        "created_at": datetime.fromtimestamp(view.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_with_token": view.user_id is None,
    }


@router.get("/apps/{app_id}/views", response_model=list[SavedView])
def list_views(app_id: AppId, db: Db, caller: Token) -> list[dict[str, Any]]:
    """The app's views shared with the team, by name."""
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        return [_json(view) for view in store.visible(conn, app_id, None)]


@router.post("/apps/{app_id}/views", response_model=SavedView, status_code=201, responses=models.BAD_JSON)
def create_view(app_id: AppId, body: NewView, db: Db, caller: Token) -> dict[str, Any]:
    """Save a view shared with the team; a refused name or filter is a 422 naming it, and nothing is saved."""
    try:
        query = view_filters.normalise(body.filters.items())
    except InvalidParameter as exc:
        field = "filters" if exc.param == "filters" else f"filters.{exc.param}"
        raise invalid_field("body", field, exc.message, exc.value) from None
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        try:
            view = store.create(conn, app_id, None, body.name, body.shared, query, time.time())
        except store.InvalidView as exc:
            raise invalid_field("body", exc.field, exc.message, getattr(body, exc.field)) from None
        return _json(view)


@router.delete("/apps/{app_id}/views/{view_id}", status_code=204)
def delete_view(app_id: AppId, view_id: ViewId, db: Db, caller: Token) -> Response:
    """Delete one of the team's shared views (a person's private views are not the token's to see)."""
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        if store.get(conn, app_id, view_id, None) is None:
            raise HTTPException(404, f"view {view_id} not found")
        store.delete(conn, app_id, view_id)
    return Response(status_code=204)
