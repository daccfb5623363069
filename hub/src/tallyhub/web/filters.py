"""The dashboard's URL filters: parsed from and serialised to the query string in this one place.

Every data page reads `Filters.from_query(request.query_params)`, hands `filters.api_params(now)` (or
`time_range(now)` and the fields) to tallyhub.analytics, and builds every link with `filters.href(path)`
so that env, time range, consumer/group, endpoint, method and status carry from page to page.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tallyhub.identifiers import is_valid_env

PERIODS: dict[str, int] = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "12mo": 365 * 86400}
PERIOD_LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d", "12mo": "12 months"}
DEFAULT_PERIOD = "24h"
CUSTOM = "custom"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_STATUS = re.compile(r"^(?:[1-5][0-9][0-9]|[1-5]xx)$")
_METHOD = re.compile(r"^[A-Z]{1,16}$")
# Order of the parameters in serialised URLs (stable, so links compare equal).
NAMES = ("env", "period", "start", "end", "consumer", "group", "method", "path", "status")


class FilterError(ValueError):
    """A filter in the URL is invalid; `name` is the parameter, the message says why."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def parse_time(name: str, raw: str) -> float:
    """Epoch seconds from ISO 8601 (naive = UTC; datetime-local inputs send that) or epoch seconds."""
    value = raw.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FilterError(name, f"{raw!r} is not an ISO 8601 time or epoch seconds") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def format_time(epoch: float) -> str:
    """ISO 8601 UTC with a Z, to the second (the read API's spelling)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(params: Mapping[str, str], name: str, limit: int) -> str | None:
    value = (params.get(name) or "").strip()
    if len(value) > limit:
        raise FilterError(name, f"longer than {limit} characters")
    return value or None


@dataclasses.dataclass(frozen=True)
class Filters:
    """The filters of a dashboard URL; defaults are left out of serialised URLs."""

    env: str | None = None
    period: str = DEFAULT_PERIOD  # a key of PERIODS, or "custom" with start (and maybe end)
    start: float | None = None
    end: float | None = None
    consumer: str | None = None
    group: str | None = None
    method: str | None = None
    path: str | None = None
    status: str | None = None

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> Filters:
        """Parse the query string; FilterError names the first invalid parameter."""
        env = _text(params, "env", 32)
        if env is not None and not is_valid_env(env):
            raise FilterError("env", f"{env!r} is not an environment name")
        start_raw, end_raw = _text(params, "start", 64), _text(params, "end", 64)
        start = parse_time("start", start_raw) if start_raw else None
        end = parse_time("end", end_raw) if end_raw else None
        period = _text(params, "period", 10) or (CUSTOM if start is not None else DEFAULT_PERIOD)
        if period == CUSTOM:
            if start is None:
                raise FilterError("start", "a custom range needs a start")
            if end is not None and start >= end:
                raise FilterError("start", "must be before end")
        elif period in PERIODS:
            start = end = None  # a preset wins over stray start/end, e.g. after clicking "7 d"
        else:
            raise FilterError("period", f"one of {', '.join(PERIODS)} or custom")
        method = _text(params, "method", 16)
        if method is not None:
            method = method.upper()
            if not _METHOD.match(method):
                raise FilterError("method", f"{method!r} is not an HTTP method")
        status = _text(params, "status", 3)
        if status is not None:
            status = status.lower()
            if not _STATUS.match(status):
                raise FilterError("status", "a status code such as 404, or a class such as 4xx")
        return cls(
            env=env,
            period=period,
            start=start,
            end=end,
            consumer=_text(params, "consumer", 128),
            group=_text(params, "group", 64),
            method=method,
            path=_text(params, "path", 1000),
            status=status,
        )

    def time_range(self, now: float) -> tuple[float, float]:
        """The [start, end) the filters select, in epoch seconds."""
        if self.period == CUSTOM and self.start is not None:
            return self.start, self.end if self.end is not None else now
        return now - PERIODS[self.period], now

    def params(self) -> list[tuple[str, str]]:
        """The non-default filters as query parameters, in a stable order."""
        values: dict[str, str | None] = {
            "env": self.env,
            "period": self.period if self.period != DEFAULT_PERIOD else None,
            "start": format_time(self.start) if self.period == CUSTOM and self.start is not None else None,
            "end": format_time(self.end) if self.period == CUSTOM and self.end is not None else None,
            "consumer": self.consumer,
            "group": self.group,
            "method": self.method,
            "path": self.path,
            "status": self.status,
        }
        return [(name, value) for name in NAMES if (value := values[name]) is not None]

    def query_string(self) -> str:
        """'?' and the filters, or '' when all are defaults."""
        params = self.params()
        return "?" + urlencode(params) if params else ""

    def href(self, target: str, /, **changes: Any) -> str:
        """`target` with these filters (changed by `changes`, None clears one) in its query string."""
        # Positional-only: `path` is also a filter that `changes` may set.
        return target + (self.replace(**changes) if changes else self).query_string()

    def replace(self, **changes: Any) -> Filters:
        if "period" in changes and changes["period"] != CUSTOM:
            changes.setdefault("start", None)
            changes.setdefault("end", None)
        return dataclasses.replace(self, **changes)

    def api_params(self, now: float) -> dict[str, str]:
        """The filters as read-API / analytics parameters (env, start, end, consumer, group, …)."""
        start, end = self.time_range(now)
        params = {"start": format_time(start), "end": format_time(end)}
        for name in ("env", "consumer", "group", "method", "path", "status"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        return params

    @property
    def is_filtered(self) -> bool:
        """Whether anything beyond env and time range narrows the data."""
        return any((self.consumer, self.group, self.method, self.path, self.status))
