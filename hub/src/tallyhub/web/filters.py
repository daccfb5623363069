"""The dashboard's URL filters: parsed from and serialised to the query string in this one place.

Every page reads `Filters.from_query(request.query_params)`: the data filters and times as
tallyhub.analytics.query parses them, plus the period (a preset, or custom start/end). Data pages read
`filters.query_at(now, apdex_t)`, and every link is built with `filters.href(path)` so that env, time
range, consumer/group, endpoint, method and status carry from page to page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tallyhub.analytics import query, view_filters
from tallyhub.analytics.view_filters import CUSTOM, DEFAULT_PERIOD, PERIODS

PERIOD_LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d", "12mo": "12 months"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# Order of the parameters in serialised URLs (stable, so links compare equal).
DATA_FILTERS = ("env", "consumer", "group", "method", "path", "status")
NAMES = view_filters.KEYS


class FilterError(ValueError):
    """A filter in the URL is invalid; `name` is the parameter, the message says why."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@contextmanager
def filter_errors() -> Iterator[None]:
    """Turn the parser's InvalidParameter into FilterError, which the dashboard shows as its error page."""
    try:
        yield
    except query.InvalidParameter as exc:
        raise FilterError(exc.param, exc.message) from None


def format_time(epoch: float) -> str:
    """ISO 8601 UTC with a Z, to the second (the read API's spelling)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class Filters(query.Filters):
    """The filters of a dashboard URL; defaults are left out of serialised URLs."""

    period: str = DEFAULT_PERIOD  # a key of PERIODS, or "custom" with start (and maybe end)
    start: float | None = None
    end: float | None = None

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> Filters:
        """Parse the query string; FilterError names the first invalid parameter."""
        with filter_errors():
            data = query.parse_filters(params)
            start, end = query.time_param(params, "start"), query.time_param(params, "end")
            period = query.text_param(params, "period") or (CUSTOM if start is not None else DEFAULT_PERIOD)
            if period == CUSTOM:
                if start is None:
                    raise FilterError("start", "a custom range needs a start")
                if end is not None:
                    query.check_order(start, end)
            elif period in PERIODS:
                start = end = None  # a preset wins over stray start/end, e.g. after clicking "7 d"
            else:
                raise FilterError("period", f"one of {', '.join(PERIODS)} or custom")
        return cls(**vars(data), period=period, start=start, end=end)

    def time_range(self, now: float) -> tuple[float, float]:
        """The [start, end) the filters select, in epoch seconds."""
        if self.period == CUSTOM and self.start is not None:
            return self.start, self.end if self.end is not None else now
        return now - PERIODS[self.period], now

    def query_at(self, now: float, apdex_t: int) -> query.Query:
        """The data request these filters make at `now`; FilterError if the range is empty."""
        with filter_errors():
            return query.build(self, *self.time_range(now), apdex_t=apdex_t)

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
        """The filters as read-API parameters (env, start, end, consumer, group, …)."""
        start, end = self.time_range(now)
        params = {"start": format_time(start), "end": format_time(end)}
        for name in ("env", "consumer", "group", "method", "path", "status"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        return params

    def honouring(self, names: tuple[str, ...]) -> Filters:
        """These filters with the data filters not in `names` cleared (the time range is kept)."""
        cleared: dict[str, Any] = {name: None for name in DATA_FILTERS if name not in names}
        return dataclasses.replace(self, **cleared)

    def carried(self, shown: tuple[str, ...]) -> list[tuple[str, str]]:
        """The data filters set but not in `shown`: a filter bar's hidden fields, so they carry on."""
        values = ((name, getattr(self, name)) for name in DATA_FILTERS if name not in shown)
        return [(name, value) for name, value in values if value]

    def reset_href(self, keep: tuple[str, ...]) -> str:
        """A filter bar's Reset link: default filters but for `keep` (what names the page's subject)."""
        return Filters(**{name: getattr(self, name) for name in keep}).query_string() or "?"

    @property
    def is_filtered(self) -> bool:
        """Whether anything beyond env and time range narrows the data."""
        return any((self.consumer, self.group, self.method, self.path, self.status))
