"""Endpoint settings in the API: an endpoint's expected statuses, own Apdex T, excluded and hidden
flags, and the app's own Apdex T. tallyhub.storage.endpoint_settings checks them, as the dashboard's.

Writes take the same bearer tokens as reads (a read-only token gets 403, a team token reaches only its
team's apps), as the alert rules do.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException
from fastapi import Query as QueryParam
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from tallyhub.analytics.query import check_text
from tallyhub.api import models
from tallyhub.api.auth import Caller, readable_app, require_token
from tallyhub.api.deps import get_db, get_settings
from tallyhub.api.params import AppId, as_422, invalid_field
from tallyhub.identifiers import is_valid_method
from tallyhub.settings import Settings
from tallyhub.storage import endpoint_settings as store
from tallyhub.storage import sentry_links
from tallyhub.storage.database import Database

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": models.Problem, "description": "Missing or unknown token."},
    404: {"model": models.Problem, "description": "Unknown app or endpoint."},
}
router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(require_token)], tags=["endpoint settings"], responses=_ERRORS
)
Db = Annotated[Database, Depends(get_db)]
Token = Annotated[Caller, Depends(require_token)]
HubSettings = Annotated[Settings, Depends(get_settings)]
EndpointMethod = Annotated[str, QueryParam(min_length=1, max_length=16, description="HTTP method, any case.")]
EndpointPath = Annotated[
    str,
    QueryParam(min_length=1, max_length=1000, description="Route template in any framework syntax."),
]


class EndpointSettings(BaseModel):
    method: str
    path_key: str = Field(description="The route with parameters as {} (any framework's syntax matches it).")
    expected_statuses: list[int] = Field(
        description="Error statuses (400-599) counted as successes in error rates, charts and alerts."
    )
    apdex_threshold_ms: int | None = Field(description="The endpoint's own Apdex T; null = the app's.")
    excluded: bool = Field(description="Its requests are no longer stored (what was stored stays).")
    hidden: bool = Field(description="Left out of endpoint lists unless hidden ones are asked for.")


class EndpointSettingsPatch(BaseModel):
    """Keys present are set (apdex_threshold_ms null: back to the app's T); keys absent are kept."""

    model_config = ConfigDict(extra="forbid")
    expected_statuses: list[StrictInt] | None = None
    apdex_threshold_ms: StrictInt | None = None
    excluded: StrictBool | None = None
    hidden: StrictBool | None = None


class AppSettings(BaseModel):
    apdex_threshold_ms: int | None = Field(description="The app's own Apdex T; null = the hub's setting.")
    effective_apdex_threshold_ms: int = Field(
        description="The T that applies to endpoints without their own."
    )
    sentry_org_url: str | None = Field(
        description="The app's Sentry organisation (https://my-org.sentry.io): server errors with a Sentry "
        "event id link to their event."
    )


class AppSettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    apdex_threshold_ms: StrictInt | None = None
    sentry_org_url: StrictStr | None = None  # null or "": no Sentry links


def _require_app(conn: sa.Connection, app_id: int, caller: Caller) -> None:
    if not readable_app(conn, caller, app_id):
        raise HTTPException(404, f"app {app_id} not found")


def _require_endpoint(conn: sa.Connection, app_id: int, method: str, path: str) -> None:
    with as_422():
        check_text("path", path, 1000)
    if not is_valid_method(method.strip().upper()):
        raise invalid_field("query", "method", "not an HTTP method", method)
    if not store.endpoint_known(conn, app_id, method, path):
        raise HTTPException(404, f"endpoint {method.upper()} {path} not found")


def _json(found: store.EndpointSettings) -> dict[str, Any]:
    return {
        "method": found.method,
        "path_key": found.path_key,
        "expected_statuses": list(found.expected_statuses),
        "apdex_threshold_ms": found.apdex_threshold_ms,
        "excluded": found.excluded,
        "hidden": found.hidden,
    }


@router.get("/apps/{app_id}/endpoint-settings", response_model=EndpointSettings)
def get_endpoint_settings(
    app_id: AppId, method: EndpointMethod, path: EndpointPath, db: Db, caller: Token
) -> dict[str, Any]:
    """An endpoint's settings, in every env of the app (defaults when none were set)."""
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        _require_endpoint(conn, app_id, method, path)
        return _json(store.get(conn, app_id, method, path))


@router.patch("/apps/{app_id}/endpoint-settings", response_model=EndpointSettings, responses=models.BAD_JSON)
def patch_endpoint_settings(
    app_id: AppId,
    method: EndpointMethod,
    path: EndpointPath,
    body: EndpointSettingsPatch,
    db: Db,
    caller: Token,
) -> dict[str, Any]:
    """Change an endpoint's settings; a refused value is a 422 naming the field, and nothing changes."""
    changes = body.model_dump(include=body.model_fields_set)
    for flag in ("expected_statuses", "excluded", "hidden"):
        if flag in changes and changes[flag] is None:
            raise invalid_field("body", flag, "must not be null", None)
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        _require_endpoint(conn, app_id, method, path)
        try:
            return _json(store.update(conn, app_id, method, path, changes))
        except store.InvalidSetting as exc:
            raise invalid_field("body", exc.field, exc.message, changes.get(exc.field)) from None


def _app_json(conn: sa.Connection, app_id: int, settings: Settings) -> dict[str, Any]:
    own = store.app_apdex_t(conn, app_id)
    return {
        "apdex_threshold_ms": own,
        "effective_apdex_threshold_ms": own or settings.apdex_threshold_ms,
        "sentry_org_url": sentry_links.org_url(conn, app_id),
    }


@router.get("/apps/{app_id}/settings", response_model=AppSettings)
def get_app_settings(app_id: AppId, db: Db, caller: Token, settings: HubSettings) -> dict[str, Any]:
    """The app's own settings (its Apdex T, its Sentry organisation)."""
    with db.read() as conn:
        _require_app(conn, app_id, caller)
        return _app_json(conn, app_id, settings)


@router.patch("/apps/{app_id}/settings", response_model=AppSettings, responses=models.BAD_JSON)
def patch_app_settings(
    app_id: AppId, body: AppSettingsPatch, db: Db, caller: Token, settings: HubSettings
) -> dict[str, Any]:
    """Set the app's Apdex T (null: back to the hub's apdex_threshold_ms setting) and Sentry organisation
    URL (null or "": none); keys absent are kept."""
    with db.write() as conn:
        _require_app(conn, app_id, caller)
        if "apdex_threshold_ms" in body.model_fields_set:
            try:
                store.set_app_apdex_t(conn, app_id, body.apdex_threshold_ms)
            except store.InvalidSetting as exc:
                raise invalid_field("body", exc.field, exc.message, body.apdex_threshold_ms) from None
        if "sentry_org_url" in body.model_fields_set:
            try:
                sentry_links.set_org_url(conn, app_id, body.sentry_org_url or "")
            except sentry_links.InvalidSentryUrl as exc:
                raise invalid_field("body", "sentry_org_url", str(exc), body.sentry_org_url) from None
        return _app_json(conn, app_id, settings)
