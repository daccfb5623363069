"""The read API's docs page: Swagger UI from the hub's own static files (works offline and under the CSP)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from tallyhub.web.templating import render

router = APIRouter()


@router.get("/api/v1/docs")
def api_docs(request: Request) -> Response:
    return render(request, "api_docs.html", openapi_url=request.app.openapi_url)
