"""Security headers on every response of the hub: pages, the API and its docs, ingestion, static files."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts, styles, fonts and fetches only from the hub itself; no inline script or style attribute
# (the templates and the API docs use none); no framing (clickjacking); no plugin; forms post only
# here. Images may be data: URLs (the favicon, Swagger UI's icons).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # setup and invitation URLs carry secrets: no Referer leaves the hub
}
# Sent over https only: a browser that saw it refuses plain http to the hub for a year.
HSTS = "max-age=31536000"


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every response, and HSTS when served over https.

    Https means the request came over TLS (or through a trusted proxy that said so) or the hub's
    public_url is https, as for the session cookie's Secure flag.
    """

    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        self.public_https = public_url.startswith("https://")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.public_https or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
