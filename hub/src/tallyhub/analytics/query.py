"""A data request's filters and time range, parsed and checked once, for the dashboard and the read API.

`parse` reads the parameters as given (text) into a Query; `build` makes one from parsed filters and a
range in epoch seconds (the dashboard's periods). tallyhub.analytics.selection resolves its filters.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from tallyhub.identifiers import ENV_RULE, METHOD_RULE, is_env_filter, is_valid_method
from tallyhub.metrics.selection import INTERVALS, TimeRange
from tallyhub.paths import InvalidPattern, compile_pattern, is_pattern
from tallyhub.storage.tables import DAY, HOUR

DEFAULT_SPAN = DAY
MAX_BUCKETS = 10_000
# 1970..3000: anything else is a typo, and far-future ends would overflow date formatting once aligned.
MIN_TIME, MAX_TIME = 0.0, 32_503_680_000.0
# After normalising: a status code or class.
_STATUS = re.compile(r"([1-5])(xx|[0-9][0-9])")
# The longest value a row holds, per free-text filter.
_MAX_LENGTH = {"consumer": 128, "group": 64, "path": 1000}


class InvalidParameter(ValueError):
    """A query parameter is malformed or out of range; `param` names it for the error shown."""

    def __init__(self, param: str, message: str, value: object = None) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message
        self.value = value


@dataclasses.dataclass(frozen=True)
class Filters:
    """What a request narrows the data to, normalised; None means "not filtered"."""

    env: str | None = None
    consumer: str | None = None
    group: str | None = None
    method: str | None = None  # upper case
    path: str | None = None
    status: str | None = None  # "404" or "4xx"


@dataclasses.dataclass(frozen=True)
class Query:
    """A parsed data request: its filters, the exact [start, end) and that range in whole buckets."""

    filters: Filters
    start: float
    end: float
    range: TimeRange
    apdex_t: int
    # Whether the request named apdex_t (it then wins over the app's own T); else apdex_t is the hub's.
    apdex_t_given: bool = False


def text_param(params: Mapping[str, str | None], name: str) -> str | None:
    """The parameter without surrounding blanks; None when absent or blank (as empty form fields are)."""
    return (params.get(name) or "").strip() or None


def check_text(param: str, value: str | None, max_length: int) -> None:
    """Reject values no row can hold (too long, or with NUL, which PostgreSQL refuses in text)."""
    if value is None:
        return
    if len(value) > max_length:
        raise InvalidParameter(param, f"at most {max_length} characters", value)
    if "\x00" in value:
        raise InvalidParameter(param, "must not contain NUL characters", value)


def parse_status(value: str) -> tuple[int, int]:
    """ "404" -> (404, 404); "4xx" (any case) -> (400, 499)."""
    match = _STATUS.fullmatch(value.strip().lower())
    if match is None:
        raise InvalidParameter("status", "a status code such as 404, or a class such as 4xx", value)
    if match.group(2) == "xx":
        base = int(match.group(1)) * 100
        return base, base + 99
    code = int(match.group(0))
    return code, code


def parse_filters(params: Mapping[str, str | None]) -> Filters:
    """The filters among `params` (text as given), normalised; InvalidParameter names the first bad one."""
    env = text_param(params, "env")
    if env is not None and not is_env_filter(env):
        raise InvalidParameter("env", ENV_RULE, env)
    method = text_param(params, "method")
    if method is not None:
        method = method.upper()
        if not is_valid_method(method):
            raise InvalidParameter("method", METHOD_RULE, method)
    status = text_param(params, "status")
    if status is not None:
        status = status.lower()
        parse_status(status)
    texts = {name: text_param(params, name) for name in _MAX_LENGTH}
    for name, value in texts.items():
        check_text(name, value, _MAX_LENGTH[name])
    path = texts["path"]
    if path is not None and is_pattern(path):
        try:
            compile_pattern(path)
        except InvalidPattern as exc:
            raise InvalidParameter("path", str(exc), path) from None
    return Filters(env=env, method=method, status=status, **texts)


def parse_time(param: str, value: str) -> float:
    """Epoch seconds from ISO 8601 (naive = UTC) or a number of epoch seconds."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidParameter(param, "not an ISO 8601 time or epoch seconds", value) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    if not (MIN_TIME <= seconds <= MAX_TIME):  # also false for NaN
        raise InvalidParameter(param, "out of range (1970-01-01 .. 3000-01-01)", value)
    return seconds


def time_param(params: Mapping[str, str | None], name: str) -> float | None:
    """The time `name` of `params` in epoch seconds; None when absent or blank."""
    text = text_param(params, name)
    return parse_time(name, text) if text is not None else None


def check_order(start: float, end: float) -> None:
    """Reject a range that ends before it starts."""
    if start >= end:
        raise InvalidParameter("start", "must be before end", start)


def default_interval(span_seconds: float) -> str:
    """minute for up to 6 hours, hour for up to 14 days, day beyond."""
    if span_seconds <= 6 * HOUR:
        return "minute"
    if span_seconds <= 14 * DAY:
        return "hour"
    return "day"


def align(start: float, end: float, interval: str) -> TimeRange:
    """[start, end) widened outward to whole buckets of the interval."""
    step = INTERVALS[interval]
    return TimeRange(int(start // step) * step, -int(-end // step) * step, interval)


def build(
    filters: Filters,
    start: float,
    end: float,
    *,
    apdex_t: int,
    interval: str | None = None,
    max_buckets: int | None = None,
) -> Query:
    """The query over [start, end) in whole buckets of the interval (default: chosen by the span)."""
    check_order(start, end)
    if interval is None:
        interval = default_interval(end - start)
    elif interval not in INTERVALS:
        raise InvalidParameter("interval", "must be minute, hour or day", interval)
    buckets = align(start, end, interval)
    count = len(buckets.buckets())
    if max_buckets is not None and count > max_buckets:
        raise InvalidParameter(
            "interval",
            f"{count} {interval} buckets exceed the limit of {max_buckets}; "
            "narrow start/end or choose a coarser interval",
            interval,
        )
    return Query(filters, start, end, buckets, apdex_t)


def parse(
    params: Mapping[str, str | None], now: float, *, apdex_t: int, max_buckets: int | None = None
) -> Query:
    """The query of the filters, start, end and interval in `params` (end: now; start: 24 h before end)."""
    filters = parse_filters(params)
    end = time_param(params, "end")
    end = now if end is None else end
    start = time_param(params, "start")
    start = max(MIN_TIME, end - DEFAULT_SPAN) if start is None else start
    return build(
        filters, start, end, apdex_t=apdex_t, interval=text_param(params, "interval"), max_buckets=max_buckets
    )
