"""Time ranges of read queries: parsing start/end, choosing the interval and aligning buckets to it."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from tallyhub.analytics.invalid import InvalidParameter
from tallyhub.metrics.selection import INTERVALS, TimeRange
from tallyhub.storage.tables import DAY, HOUR

DEFAULT_SPAN = DAY
MAX_BUCKETS = 10_000
# 1970..3000: anything else is a typo, and far-future ends would overflow date formatting once aligned.
MIN_TIME, MAX_TIME = 0.0, 32_503_680_000.0


def parse_time(value: str, param: str) -> float:
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


def iso(seconds: float) -> str:
    """ISO 8601 UTC ending in Z: whole seconds, or milliseconds when the time has a fraction."""
    if seconds == int(seconds):  # the common case (bucket starts), done cheaply: series have 1000s
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    moment = datetime.fromtimestamp(seconds, UTC)
    spec = "seconds" if seconds == int(seconds) else "milliseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def default_interval(span_seconds: float) -> str:
    """minute for up to 6 hours, hour for up to 14 days, day beyond."""
    if span_seconds <= 6 * HOUR:
        return "minute"
    if span_seconds <= 14 * DAY:
        return "hour"
    return "day"


def parse_range(start: str | None, end: str | None, now: float) -> tuple[float, float]:
    """(start, end) in epoch seconds: defaults end=now, start=end-24h; start must be before end."""
    end_s = parse_time(end, "end") if end is not None else now
    start_s = parse_time(start, "start") if start is not None else max(MIN_TIME, end_s - DEFAULT_SPAN)
    if start_s >= end_s:
        raise InvalidParameter("start", "must be before end", start)
    return start_s, end_s


def resolve(
    start: str | None,
    end: str | None,
    interval: str | None,
    now: float,
    max_buckets: int | None = MAX_BUCKETS,
) -> TimeRange:
    """The range a query covers (see parse_range), widened outward to whole buckets of the interval."""
    start_s, end_s = parse_range(start, end, now)
    if interval is None:
        interval = default_interval(end_s - start_s)
    elif interval not in INTERVALS:
        raise InvalidParameter("interval", "must be minute, hour or day", interval)
    step = INTERVALS[interval]
    first = int(start_s // step) * step
    last = math.ceil(end_s / step) * step
    count = (last - first) // step
    if max_buckets is not None and count > max_buckets:
        raise InvalidParameter(
            "interval",
            f"{count} {interval} buckets exceed the limit of {max_buckets}; "
            "narrow start/end or choose a coarser interval",
            interval,
        )
    return TimeRange(first, last, interval)
