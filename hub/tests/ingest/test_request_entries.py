"""Request entries are validated straight into RequestMetrics (models.RequestEntry), dated by translate."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError
from tallyhub.ingest.batch import RequestMetrics
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync


def sync(*entries: dict[str, object], **changes: object) -> Sync:
    body = {"instance_uuid": str(uuid.uuid4()), "message_uuid": str(uuid.uuid4()), "requests": list(entries)}
    return Sync.model_validate_json(json.dumps({**body, **changes}))


def test_entries_are_request_metrics_dated_at_the_sync_and_an_at_key_is_ignored() -> None:
    entry = {"method": "get", "path": "/a", "status_code": 200, "request_count": 3, "at": "not a time"}
    batch = translate.sync(sync(entry, {**entry, "response_times": {"10": 2}}, timestamp=1795715400))
    first, second = batch.requests
    assert isinstance(first, RequestMetrics)
    assert (first.at, first.method, first.consumer, first.request_size_sum, first.response_times) == (
        1795715400.0,
        "get",
        None,
        0,
        {},
    )
    assert second.response_times == {10: 2}
    assert first.response_times is not second.request_sizes  # defaults are never shared
    assert translate.sync(sync(entry)).requests[0].at is None  # no timestamp: when received


@pytest.mark.parametrize(
    ("entry", "loc"),
    [
        ({"path": "/a", "status_code": 200, "request_count": 1}, ("requests", 0, "method")),
        (
            {"method": "GET", "path": "/a", "status_code": 1000, "request_count": 1},
            ("requests", 0, "status_code"),
        ),
        (
            {"method": "GET", "path": "/a", "status_code": 200, "request_count": -1},
            ("requests", 0, "request_count"),
        ),
        (
            {
                "method": "GET",
                "path": "/a",
                "status_code": 200,
                "request_count": 1,
                "request_sizes": {"x": 1},
            },
            ("requests", 0, "request_sizes", "x", "[key]"),
        ),
        ("not an object", ("requests", 0)),
    ],
)
def test_invalid_entries_name_the_field(entry: object, loc: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        sync(entry)  # type: ignore[arg-type]
    assert [e["loc"] for e in caught.value.errors()] == [loc]
