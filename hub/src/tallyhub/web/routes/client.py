"""GET /client/apitally-<version>-py3-none-any.whl: the hub's own client, for
`pip install "apitally[…] @ URL"` (the name `apitally` on PyPI is the official client's).

No sign-in: pip sends no cookies, and the wheel holds nothing of this hub's data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from tallyhub.web.client_wheel import ClientWheel, WheelUnavailable

router = APIRouter()

# The URL names the version, but an editable hub rebuilds the wheel when the client's sources change
# under the same version: caches keep it an hour, then revalidate with the ETag.
CACHE_CONTROL = "public, max-age=3600"


def client_wheel(request: Request) -> ClientWheel:
    wheel: ClientWheel = request.app.state.client_wheel
    return wheel


@router.api_route("/client/{filename}", methods=["GET", "HEAD"])
def download(request: Request, filename: str) -> Response:
    wheels = client_wheel(request)
    expected = wheels.filename()
    if expected is None or filename != expected:
        served = f"this hub serves /client/{expected}" if expected else "this hub serves no client wheel"
        return PlainTextResponse(f"No such file {filename!r}: {served}.\n", status_code=404)
    try:
        wheel = wheels.get()
    except WheelUnavailable as exc:
        return PlainTextResponse(f"{exc}\n", status_code=503, headers={"Retry-After": "60"})
    headers = {"ETag": wheel.etag, "Cache-Control": CACHE_CONTROL}
    if {wheel.etag, "*"} & _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{wheel.filename}"'
    # A wheel is a zip archive; its registered type keeps GZip from compressing it again.
    return Response(wheel.content, media_type="application/zip", headers=headers)


def _etags(header: str) -> set[str]:
    """The entity tags of an If-None-Match header (weak ones compare equal, as RFC 9110 says for it)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}
