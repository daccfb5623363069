"""The URL of a request as its span tells it, with the values of secret-looking query parameters redacted."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tallyhub.ingest.otlp.values import integer, text

REDACTED = "[REDACTED]"
# The names apitally's clients mask by default; apitally 1.0 redacts before sending, plain SDKs do not.
SECRET = re.compile(r"auth|api[-_]?key|secret|token|password|passwd|pwd", re.IGNORECASE)


def url(attrs: dict[str, Any]) -> str:
    """`url.full` (`http.url`), else built from scheme, host, port, path and query; query secrets redacted."""
    full = text(attrs, "url.full", "http.url")
    if full is None:
        scheme = text(attrs, "url.scheme", "http.scheme") or "http"
        host = text(attrs, "server.address", "net.host.name", "http.host") or ""
        port = integer(attrs, "server.port", "net.host.port")
        if port is not None and ":" not in host and (scheme, port) not in (("http", 80), ("https", 443)):
            host = f"{host}:{port}"
        target = text(attrs, "url.path") or ""
        if target:
            query = text(attrs, "url.query")
            target = f"{target}?{query}" if query else target
        else:
            target = text(attrs, "http.target") or "/"
        full = f"{scheme}://{host}{target}" if host else target
    return redact_query(full)


def redact_query(value: str) -> str:
    """`value` with the values of query parameters whose names look secret replaced by [REDACTED]."""
    if "?" not in value:
        return value
    parts = urlsplit(value)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(SECRET.search(name) for name, _ in pairs):
        return value
    redacted = [(name, REDACTED if SECRET.search(name) else v) for name, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(redacted, safe="[]")))
