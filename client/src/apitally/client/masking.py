"""Filtering and masking of request-log items, applied by the worker before an item is written."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from apitally.client.logging_config import RequestLoggingConfig

logger = logging.getLogger("apitally")

MAX_BODY_SIZE = 50_000
BODY_TOO_LARGE = b"<body too large>"
BODY_MASKED = b"<masked>"
MASKED = "******"
ALLOWED_CONTENT_TYPES = (
    "application/json",
    "application/problem+json",
    "application/vnd.api+json",
    "text/plain",
)
EXCLUDE_PATHS = (
    r"/_?healthz?$",
    r"/_?health[\-_]?checks?$",
    r"/_?heart[\-_]?beats?$",
    r"/ping$",
    r"/ready$",
    r"/live$",
    r"/favicon(?:-[\w-]+)?\.(ico|png|svg)$",
    r"/apple-touch-icon(?:-[\w-]+)?\.png$",
    r"/robots\.txt$",
    r"/sitemap\.xml$",
    r"/manifest\.json$",
    r"/site\.webmanifest$",
    r"/service-worker\.js$",
    r"/sw\.js$",
    r"/\.well-known/",
)
EXCLUDE_USER_AGENTS = (r"health[\-_ ]?check", r"microsoft-azure-application-lb", r"googlehc", r"kube-probe")
# `api[-_]?key` also catches `api_key`, which the official 0.x pattern `api-?key` lets through.
MASK_QUERY_PARAMS = (r"auth", r"api[-_]?key", r"secret", r"token", r"password", r"pwd")
MASK_HEADERS = (r"auth", r"api[-_]?key", r"secret", r"token", r"cookie")
MASK_BODY_FIELDS = (r"password", r"pwd", r"token", r"secret", r"auth", r"card[\-_ ]number", r"ccv", r"ssn")
_SCHEME_HEADERS = (
    "x-forwarded-proto",
    "x-forwarded-protocol",
    "x-forwarded-scheme",
    "x-url-scheme",
    "x-scheme",
)
_SSL_HEADERS = ("front-end-https", "x-forwarded-ssl")
HTTPS_HEADERS = (*_SCHEME_HEADERS, "forwarded", *_SSL_HEADERS)  # every header `is_https` reads


def _matcher(patterns: list[str], defaults: tuple[str, ...]) -> Any:
    regex = re.compile("|".join(f"(?:{p})" for p in [*patterns, *defaults]), re.IGNORECASE)

    @lru_cache(maxsize=512)
    def matches(value: str) -> bool:
        return regex.search(value) is not None

    return matches


def header_value(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def is_allowed_content_type(content_type: str | None) -> bool:
    if content_type is None:
        return False
    allowed = _ALLOWED.get(content_type)
    if allowed is None:
        allowed = content_type.lower().startswith(ALLOWED_CONTENT_TYPES)
        if len(_ALLOWED) < 256:  # few distinct values recur
            _ALLOWED[content_type] = allowed
    return allowed


_ALLOWED: dict[str, bool] = {}


def is_https(headers: list[tuple[str, str]]) -> bool:
    for k, v in headers:
        name = k.lower()
        if name in _SCHEME_HEADERS and v.split(",")[0].strip().lower() == "https":
            return True
        if name == "forwarded" and "proto=https" in v.split(",")[0].lower():
            return True
        if name in _SSL_HEADERS and v.lower() == "on":
            return True
    return False


class _RawHint:
    """Finds, in raw JSON text, every field name that the masking patterns could match.

    A name matched by `re.search(pattern, name)` appears in the body as it is (bodies with escapes
    are always parsed), so a body without a hit has nothing to mask and is kept without a parse.
    The patterns are searched in the lower-cased body without IGNORECASE, which lets `re` skip
    ahead by first characters (with IGNORECASE the same search is about ten times slower).
    """

    def __init__(self, regex: re.Pattern[bytes]) -> None:
        self.regex = regex

    @classmethod
    def build(cls, patterns: list[str]) -> _RawHint | None:
        """None when a pattern is not plain (anchors, lookarounds, escapes such as \\w, non-ASCII)."""
        if any(not p.isascii() or re.search(r"[\^$]|\(\?|\\[A-Za-z]", p) for p in patterns):
            return None
        try:
            return cls(re.compile("|".join(f"(?:{p.lower()})" for p in patterns).encode()))
        except re.error:
            return None

    def found_in(self, body: bytes) -> bool:
        return self.regex.search(body.lower()) is not None


class Masker:
    """Decides what of a captured request is logged, and masks what is logged."""

    def __init__(self, config: RequestLoggingConfig) -> None:
        self.config = config
        self.exclude_path = _matcher(config.exclude_paths, EXCLUDE_PATHS)
        self.exclude_agent = _matcher([], EXCLUDE_USER_AGENTS)
        self.mask_param = _matcher(config.mask_query_params, MASK_QUERY_PARAMS)
        self.mask_header = _matcher(config.mask_headers, MASK_HEADERS)
        self.mask_field = _matcher(config.mask_body_fields, MASK_BODY_FIELDS)
        self._field_hint = _RawHint.build([*config.mask_body_fields, *MASK_BODY_FIELDS])
        self.mask_query = lru_cache(maxsize=1024)(self._mask_query)

    def excluded(self, request: dict[str, Any], response: dict[str, Any]) -> bool:
        """True for health checks and the like (by route, URL path or user agent) and user exclusions."""
        path = request.get("path") or urlsplit(request["url"]).path
        agent = header_value(request["headers"], "user-agent")
        if self.exclude_path(path) or (agent is not None and self.exclude_agent(agent)):
            return True
        callback = self.config.exclude_callback
        return callback is not None and bool(callback(request, response))

    def apply(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Mask bodies, headers and query parameters in place, as configured."""
        config = self.config
        self._mask_body(request, config.mask_request_body_callback, (request,), config.log_request_body)
        self._mask_body(
            response, config.mask_response_body_callback, (request, response), config.log_response_body
        )
        request["headers"] = self._mask_headers(request["headers"]) if config.log_request_headers else []
        response["headers"] = self._mask_headers(response["headers"]) if config.log_response_headers else []
        if "?" in request["url"]:
            parts = urlsplit(request["url"])
            query = self.mask_query(parts.query) if config.log_query_params else ""
            request["url"] = urlunsplit(parts._replace(query=query))

    def _mask_body(self, data: dict[str, Any], callback: Any, args: tuple[Any, ...], enabled: bool) -> None:
        content_type = header_value(data["headers"], "content-type")
        data["body"] = self.body(data.get("body"), content_type, enabled, callback, args)

    def body(
        self,
        body: bytes | None,
        content_type: str | None,
        enabled: bool,
        callback: Any = None,
        args: tuple[Any, ...] = (),
    ) -> bytes | None:
        """The body as logged: None if not logged, else masked (callback, JSON fields) or a placeholder."""
        if not enabled or body is None or not is_allowed_content_type(content_type):
            return None
        if body == BODY_TOO_LARGE:
            return body
        if callback is not None:
            try:
                body = callback(*args)
            except Exception:
                logger.exception("Apitally: a mask body callback raised; the body is masked")
                body = None
            if body is None:
                return BODY_MASKED
        if len(body) > MAX_BODY_SIZE:
            return BODY_TOO_LARGE
        hint = self._field_hint
        if hint is not None and b"\\" not in body and not hint.found_in(body):
            pass  # nothing to mask
        elif content_type is None or re.search(r"\bjson\b", content_type.lower()):
            with contextlib.suppress(ValueError, TypeError, RecursionError):
                body = json.dumps(self._mask_fields(json.loads(body)), separators=(",", ":")).encode()
        return body

    def _mask_fields(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: MASKED if isinstance(v, str) and self.mask_field(k) else self._mask_fields(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._mask_fields(v) for v in value]
        return value

    def _mask_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, MASKED if self.mask_header(k) else v) for k, v in headers]

    def _mask_query(self, query: str) -> str:
        pairs = parse_qsl(query, keep_blank_values=True)
        return urlencode([(k, MASKED if self.mask_param(k) else v) for k, v in pairs])
