"""The filters a saved view holds: the dashboard's URL filter keys, checked and put in one spelling.

A view is the query string of a page's filters (env, time range, consumer, group, method, path, status);
the dashboard and the read API store only what `normalise` returns, so no other key or unchecked value
is ever kept or echoed back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlencode

from tallyhub.analytics import query

PERIODS: dict[str, int] = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "12mo": 365 * 86400}
DEFAULT_PERIOD = "24h"
CUSTOM = "custom"
# Every key a view may hold, in the order of the dashboard's links.
KEYS = ("env", "period", "start", "end", "consumer", "group", "method", "path", "status")
MAX_QUERY_LENGTH = 4000


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise(pairs: Iterable[tuple[str, str]]) -> str:
    """The query string of these filter parameters, each checked; InvalidParameter names a bad one.

    Blank values are dropped (as empty form fields are), a preset period drops stray start/end, and a
    view must narrow something (an empty one is the Reset link).
    """
    given: dict[str, str] = {}
    for key, value in pairs:
        if key not in KEYS:
            raise query.InvalidParameter(key, f"not a filter a view holds (one of {', '.join(KEYS)})", key)
        if key in given:
            raise query.InvalidParameter(key, "given more than once", value)
        given[key] = value
    data = query.parse_filters(given)
    start, end = query.time_param(given, "start"), query.time_param(given, "end")
    period = query.text_param(given, "period") or (CUSTOM if start is not None else DEFAULT_PERIOD)
    if period == CUSTOM:
        if start is None:
            raise query.InvalidParameter("start", "a custom range needs a start", None)
        if end is not None:
            query.check_order(start, end)
    elif period in PERIODS:
        start = end = None
    else:
        raise query.InvalidParameter("period", f"one of {', '.join(PERIODS)} or custom", period)
    values = {
        **{name: getattr(data, name) for name in ("env", "consumer", "group", "method", "path", "status")},
        "period": period if period != DEFAULT_PERIOD else None,
        "start": _iso(start) if start is not None else None,
        "end": _iso(end) if end is not None else None,
    }
    kept = [(key, value) for key in KEYS if (value := values[key]) is not None]
    if not kept:
        raise query.InvalidParameter("filters", "a view needs at least one filter or a time range", None)
    text = urlencode(kept)
    if len(text) > MAX_QUERY_LENGTH:
        raise query.InvalidParameter("filters", f"at most {MAX_QUERY_LENGTH} characters", None)
    return text
