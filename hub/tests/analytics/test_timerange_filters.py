"""Time ranges (parsing, defaults, alignment) and filter parsing, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tallyhub.analytics import query
from tallyhub.analytics.query import InvalidParameter, parse_status
from tallyhub.analytics.times import iso
from tallyhub.metrics.selection import TimeRange
from tallyhub.storage.tables import (
    LEVEL_CONSUMER,
    LEVEL_CONSUMER_TOTAL,
    LEVEL_ENDPOINT,
    LEVEL_TOTAL,
    level_for,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC).timestamp()


def _range(start: str | None, end: str | None, interval: str | None, now: float) -> TimeRange:
    """The aligned range of a read-API request (which bounds the buckets)."""
    params = {"start": start, "end": end, "interval": interval}
    return query.parse(params, now, apdex_t=500, max_buckets=query.MAX_BUCKETS).range


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26T10:00:00Z",
        "2026-11-26T10:00:00+00:00",
        "2026-11-26T11:00:00+01:00",
        "2026-11-26T10:00:00",
        str(int(T0)),
        f"{T0:.3f}",
    ],
)
def test_parse_time_accepts_iso_and_epoch(text: str) -> None:
    assert query.parse_time("start", text) == T0


def test_iso_formats_utc_with_z() -> None:
    assert iso(T0) == "2026-11-26T10:00:00Z"
    assert iso(T0 + 0.25) == "2026-11-26T10:00:00.250Z"


def test_resolve_defaults_and_alignment() -> None:
    now = T0 + 90.5
    tr = _range(None, None, None, now)
    assert (tr.interval, tr.start, tr.end) == ("hour", int(T0) - 86400, int(T0) + 3600)
    tr = _range(str(T0 + 61), str(T0 + 3 * 3600), None, now)
    assert (tr.interval, tr.start, tr.end, len(tr.buckets())) == (
        "minute",
        int(T0) + 60,
        int(T0) + 3 * 3600,
        179,
    )
    tr = _range(str(T0), str(T0 + 30 * 86400), None, now)
    assert tr.interval == "day" and tr.start % 86400 == 0 and tr.end % 86400 == 0 and len(tr.buckets()) == 31
    with pytest.raises(InvalidParameter) as raised:
        _range(str(T0), str(T0), None, now)
    assert raised.value.param == "start"


@given(st.floats(0, 2e10), st.floats(1, 1e7), st.sampled_from(["minute", "hour", "day"]))
def test_aligned_range_covers_the_request(start: float, span: float, interval: str) -> None:
    try:
        tr = _range(repr(start), repr(start + span), interval, 0)
    except InvalidParameter as exc:
        assert exc.param == "interval"  # too many buckets
        return
    assert tr.start <= start < start + span <= tr.end
    assert tr.start % tr.step == 0 and tr.end % tr.step == 0
    assert tr.end - tr.start < span + 2 * tr.step


def test_status_and_levels() -> None:
    assert parse_status("404") == (404, 404)
    assert parse_status("4xx") == (400, 499)
    assert parse_status("5XX") == (500, 599)
    for bad in ["4x", "40", "4040", "600", "xx", ""]:
        with pytest.raises(InvalidParameter):
            parse_status(bad)
    query.parse_filters(
        {"env": "prod_1-X", "consumer": "c" * 128, "group": "g" * 64, "method": "get", "path": "/x/{id}"}
    )
    with pytest.raises(InvalidParameter):  # ASCII only: no look-alikes of another environment
        query.parse_filters({"env": "prüfung"})
    # The coarsest level with the filtered (or grouped-by) dimensions: (endpoint, consumer).
    assert level_for(False, False) == LEVEL_TOTAL
    assert level_for(True, False) == LEVEL_ENDPOINT
    assert level_for(True, True) == LEVEL_CONSUMER
    assert level_for(False, True) == LEVEL_CONSUMER_TOTAL


def test_extreme_times_are_422_not_500() -> None:
    for text in [
        "1e400",
        "nan",
        "-inf",
        "-1",
        "32503680001",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+14:00",
    ]:
        with pytest.raises(InvalidParameter):
            query.parse_time("end", text)
    tr = _range("32503000000", "32503680000", "day", 0)
    assert iso(tr.end).startswith("3000-01-01")
