"""A consumer's name and group as a person sets them (members and admins), from its detail page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel
from starlette.responses import RedirectResponse, Response

from tallyhub.analytics import consumers
from tallyhub.web.access import RowId, SignedIn, WebError, not_found, request_db, require_app
from tallyhub.web.filters import Filters

router = APIRouter()


class ConsumerFields(BaseModel):
    """The consumer form as posted: a new group, if typed, wins over the chosen one."""

    identifier: str = ""
    name: str = ""
    group: str = ""
    new_group: str = ""


@router.post("/apps/{app_id}/consumers/edit")
def edit_consumer(
    request: Request, viewer: SignedIn, app_id: RowId, fields: Annotated[ConsumerFields, Form()]
) -> Response:
    """Rename a consumer and set its group (member or admin); clients can no longer overwrite them."""
    app = require_app(request, viewer, app_id, "member")
    name, chosen_group = fields.name.strip(), (fields.new_group or fields.group).strip()
    for label, value in (("name", name), ("group", chosen_group)):
        if len(value) > 64:
            raise WebError(400, f"The {label} is longer than 64 characters.")
    changes: dict[str, str | None] = {"name": name or None, "group": chosen_group or None}
    if consumers.update_consumer(request_db(request), app.id, fields.identifier, changes) is None:
        raise not_found()
    filters = Filters.from_query(request.query_params).replace(consumer=fields.identifier)
    return RedirectResponse(filters.href(f"/apps/{app.id}/consumers/detail"), status_code=303)
