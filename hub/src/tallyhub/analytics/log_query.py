"""The request-log explorer's own filters, parsed with tallyhub.analytics.query's rules and errors.

The dashboard's filters (env, time range, consumer, group, method, endpoint, status) are query.Filters;
these narrow logged requests further by what only a log row holds.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping

from tallyhub.analytics.query import InvalidParameter, check_text, text_param

MAX_NEEDLE = 200  # a body or URL substring: longer needles are pastes of whole bodies, not searches
MAX_BYTES = 2**62
MAX_MS = 86_400_000.0
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# Serialised in this order (stable, so links compare equal).
NAMES = (
    "client_ip",
    "url",
    "request_body",
    "response_body",
    "request_size_min",
    "request_size_max",
    "response_size_min",
    "response_size_max",
    "response_time_min",
    "response_time_max",
    "has_exception",
    "trace_id",
)


@dataclasses.dataclass(frozen=True)
class LogFilters:
    """Narrowing of logged requests; None means "not filtered". Sizes in bytes, response times in ms."""

    client_ip: str | None = None
    url: str | None = None  # substring, any case
    request_body: str | None = None  # substring, any case
    response_body: str | None = None
    request_size_min: int | None = None
    request_size_max: int | None = None
    response_size_min: int | None = None
    response_size_max: int | None = None
    response_time_min: float | None = None
    response_time_max: float | None = None
    has_exception: bool | None = None
    trace_id: str | None = None  # 32 lower-case hex digits

    def params(self) -> list[tuple[str, str]]:
        """The set filters as query parameters, in a stable order."""
        out = []
        for name in NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, float):
                text = f"{value:g}"
            else:
                text = str(value)
            out.append((name, text))
        return out

    @property
    def is_set(self) -> bool:
        return any(getattr(self, name) is not None for name in NAMES)


def _number(params: Mapping[str, str | None], name: str, high: float, whole: bool) -> float | None:
    raw = text_param(params, name)
    if raw is None:
        return None
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        kind = "a whole number of bytes" if whole else "a number of milliseconds"
        raise InvalidParameter(name, kind, raw) from None
    if not (0 <= value <= high) or (not whole and not math.isfinite(value)):
        raise InvalidParameter(name, f"between 0 and {high:g}", raw)
    return value


def _range(params: Mapping[str, str | None], name: str, high: float, whole: bool) -> tuple[float | None, ...]:
    low, top = _number(params, f"{name}_min", high, whole), _number(params, f"{name}_max", high, whole)
    if low is not None and top is not None and low > top:
        raise InvalidParameter(f"{name}_min", f"must not exceed {name}_max", low)
    return low, top


def parse_log_filters(params: Mapping[str, str | None]) -> LogFilters:
    """The log filters among `params` (text as given); InvalidParameter names the first bad one."""
    texts = {name: text_param(params, name) for name in ("client_ip", "url", "request_body", "response_body")}
    for name, value in texts.items():
        check_text(name, value, 64 if name == "client_ip" else MAX_NEEDLE)
    flag = text_param(params, "has_exception")
    has_exception = None
    if flag is not None:
        if flag.lower() not in (*_TRUE, *_FALSE):
            raise InvalidParameter("has_exception", "true or false", flag)
        has_exception = flag.lower() in _TRUE
    trace_id = text_param(params, "trace_id")
    if trace_id is not None:
        trace_id = trace_id.lower()
        if not _TRACE_ID.fullmatch(trace_id):
            raise InvalidParameter("trace_id", "32 hexadecimal digits", trace_id)
    req_min, req_max = _range(params, "request_size", MAX_BYTES, True)
    resp_min, resp_max = _range(params, "response_size", MAX_BYTES, True)
    time_min, time_max = _range(params, "response_time", MAX_MS, False)
    return LogFilters(
        **texts,
        request_size_min=None if req_min is None else int(req_min),
        request_size_max=None if req_max is None else int(req_max),
        response_size_min=None if resp_min is None else int(resp_min),
        response_size_max=None if resp_max is None else int(resp_max),
        response_time_min=time_min,
        response_time_max=time_max,
        has_exception=has_exception,
        trace_id=trace_id,
    )
