"""HTTP POSTs to the hub with the standard library: one call, one timeout, no exception for a status."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass

from apitally.client.version import USER_AGENT


class TransportError(Exception):
    """The hub could not be reached, timed out, or answered with something that is not HTTP."""


@dataclass(frozen=True)
class HubResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class _KeepBodyUntyped(urllib.request.BaseHandler):
    """Undoes urllib's default `Content-Type: application/x-www-form-urlencoded` for raw bodies.

    The `/log` upload is a gzip file sent without a Content-Type, as the official clients send it;
    a form content type could make a hub try to parse the body as a form.
    """

    handler_order = 1000  # after urllib's own request processing, which adds the default

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        if getattr(request, "untyped", False):
            request.unredirected_hdrs.pop("Content-type", None)
        return request

    https_request = http_request


class Transport:
    """Sends bodies to the hub; `proxy` (if given) is used for http and https alike."""

    def __init__(self, proxy: str | None = None) -> None:
        handlers: list[urllib.request.BaseHandler] = [_KeepBodyUntyped()]
        if proxy:
            handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
        self._opener = urllib.request.build_opener(*handlers)

    def post(self, url: str, body: bytes, content_type: str | None, timeout: float) -> HubResponse:
        headers = {"User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        request.untyped = not content_type  # type: ignore[attr-defined]
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return HubResponse(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as error:
            with error:
                try:
                    data = error.read()
                except (OSError, http.client.HTTPException):
                    data = b""
                return HubResponse(error.code, dict(error.headers.items()), data)
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise TransportError(str(error) or type(error).__name__) from error
