"""The URL filter module: parsing, validation, serialisation and carrying filters across links."""

from __future__ import annotations

import pytest
from tallyhub.analytics.query import parse_time
from tallyhub.web.filters import DEFAULT_PERIOD, FilterError, Filters

NOW = 1_800_000_000.0


def test_defaults_serialise_to_nothing() -> None:
    filters = Filters.from_query({})
    assert filters.period == DEFAULT_PERIOD
    assert filters.query_string() == ""
    assert filters.href("/apps/1/traffic") == "/apps/1/traffic"
    assert filters.time_range(NOW) == (NOW - 86400, NOW)


@pytest.mark.parametrize(
    ("period", "seconds"),
    [("1h", 3600), ("24h", 86400), ("7d", 604800), ("30d", 2592000), ("12mo", 31536000)],
)
def test_presets(period: str, seconds: int) -> None:
    filters = Filters.from_query({"period": period})
    assert filters.time_range(NOW) == (NOW - seconds, NOW)
    assert ("period", period) in filters.params() or period == DEFAULT_PERIOD


def test_round_trip_of_every_filter() -> None:
    query = {
        "env": "prod",
        "period": "custom",
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-11-02T12:30:00Z",
        "consumer": "customer-1",
        "group": "Partners",
        "method": "post",
        "path": "/items/{id}",
        "status": "4XX",
    }
    filters = Filters.from_query(query)
    assert filters.method == "POST" and filters.status == "4xx"
    again = Filters.from_query(dict(filters.params()))
    assert again == filters
    assert filters.href("/apps/2/errors").startswith("/apps/2/errors?env=prod&period=custom&start=2026-11-01")
    assert filters.api_params(NOW) == {
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-11-02T12:30:00Z",
        "env": "prod",
        "consumer": "customer-1",
        "group": "Partners",
        "method": "POST",
        "path": "/items/{id}",
        "status": "4xx",
    }


def test_start_alone_is_a_custom_range_to_now() -> None:
    filters = Filters.from_query({"start": "1700000000"})
    assert filters.period == "custom"
    assert filters.time_range(NOW) == (1_700_000_000, NOW)


def test_naive_times_are_utc() -> None:
    assert parse_time("start", "2026-11-01T00:00") == parse_time("start", "2026-11-01T00:00:00+00:00")


def test_a_preset_drops_custom_times() -> None:
    custom = Filters.from_query({"start": "2026-11-01T00:00:00Z", "env": "dev"})
    preset = custom.replace(period="7d")
    assert preset.start is None and preset.end is None
    assert preset.query_string() == "?env=dev&period=7d"
    assert Filters.from_query({"period": "1h", "start": "2026-11-01T00:00:00Z"}).start is None


def test_changes_and_clearing_in_links() -> None:
    filters = Filters.from_query({"env": "prod", "status": "500"})
    assert filters.href("/x", env=None) == "/x?status=500"
    assert filters.href("/x", consumer="a b&c") == "/x?env=prod&consumer=a+b%26c&status=500"


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"env": "no spaces"}, "env"),
        ({"period": "2w"}, "period"),
        ({"period": "custom"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "start"),
        ({"end": "not a time", "start": "1"}, "end"),
        ({"method": "GET POST"}, "method"),
        ({"status": "600"}, "status"),
        ({"status": "4x"}, "status"),
        ({"consumer": "c" * 129}, "consumer"),
        ({"group": "g" * 65}, "group"),
        ({"path": "/" * 1001}, "path"),
    ],
)
def test_invalid_filters_name_the_parameter(query: dict[str, str], name: str) -> None:
    with pytest.raises(FilterError) as raised:
        Filters.from_query(query)
    assert raised.value.name == name
