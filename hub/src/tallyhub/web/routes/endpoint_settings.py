"""An endpoint's settings as a person sets them (members and admins), from its detail page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel
from starlette.responses import RedirectResponse, Response

from tallyhub.identifiers import is_valid_method
from tallyhub.storage import endpoint_settings
from tallyhub.web.access import RowId, SignedIn, WebError, not_found, request_db, require_app
from tallyhub.web.filters import Filters

router = APIRouter()


class EndpointFields(BaseModel):
    """The settings form as posted: statuses typed as "404, 409"; a blank T means the app's."""

    method: str = ""
    path: str = ""
    expected_statuses: str = ""
    apdex_threshold_ms: str = ""
    excluded: str = ""  # a checkbox: "on" when ticked, absent when not
    hidden: str = ""


def _apdex_t(text: str) -> int | None:
    value = text.strip()
    if not value:
        return None
    if not value.isdigit():
        raise endpoint_settings.InvalidSetting("apdex_threshold_ms", f"{value!r} is not a whole number of ms")
    return int(value)


@router.post("/apps/{app_id}/endpoints/settings")
def edit_endpoint_settings(
    request: Request, viewer: SignedIn, app_id: RowId, fields: Annotated[EndpointFields, Form()]
) -> Response:
    """Set an endpoint's settings (member or admin), in every env of the app; the form holds them all."""
    app = require_app(request, viewer, app_id, "member")
    method, path = fields.method.strip().upper(), fields.path.strip()
    if not is_valid_method(method) or not path or len(path) > 1000 or "\x00" in path:
        raise WebError(400, "The endpoint (method and path) is missing or malformed.")
    try:
        changes = {
            "expected_statuses": list(endpoint_settings.parse_expected(fields.expected_statuses)),
            "apdex_threshold_ms": _apdex_t(fields.apdex_threshold_ms),
            "excluded": bool(fields.excluded),
            "hidden": bool(fields.hidden),
        }
        with request_db(request).write() as conn:
            if not endpoint_settings.endpoint_known(conn, app.id, method, path):
                raise not_found()
            endpoint_settings.update(conn, app.id, method, path, changes)
    except endpoint_settings.InvalidSetting as exc:
        label = {"expected_statuses": "Expected statuses", "apdex_threshold_ms": "Apdex T"}[exc.field]
        raise WebError(400, f"{label}: {exc.message}.") from None
    filters = Filters.from_query(request.query_params).replace(method=method, path=path)
    return RedirectResponse(filters.href(f"/apps/{app.id}/endpoints/detail"), status_code=303)
