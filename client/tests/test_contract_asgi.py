"""Same traffic through this client and the official apitally[fastapi] / apitally[litestar]==0.25.1:
same payloads.

As `test_contract` does for Flask: each client runs the framework's `apps/contract_*_app.py` from its
own interpreter (the official one from its virtual environment) against a recording hub of its own;
ids, timestamps, versions and response times aside, the startup, sync and log payloads must have the
same keys, types and aggregate values.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from .contract import (
    assert_same_lines,
    both_clients,
    consumers,
    log_lines,
    merged_requests,
    server_errors,
    sync_shapes,
    validation_errors,
)

pytestmark = pytest.mark.e2e


@dataclasses.dataclass(frozen=True)
class Framework:
    app: str
    client: str  # the startup payload's "client"
    versions: tuple[str, ...]  # the packages whose versions both clients report
    never_called: dict[str, str]  # a route the traffic never calls, as the startup payload lists it
    request_rows: int  # (consumer, method, path, status) rows over all syncs
    validation_errors: int
    log_lines: int
    hidden_prefix: str = ""  # the framework's own routes, never in the startup payload


FRAMEWORKS = {
    # items (alice, none, 422), echo (200, 422), boom, text; not the 404. Validation errors: password
    # of the wrong type, data missing (twice), item_id not an int (once).
    "fastapi": Framework(
        "contract_fastapi_app.py",
        "python:starlette",
        ("python", "fastapi", "starlette", "app"),
        {"path": "/never", "method": "get"},
        request_rows=7,
        validation_errors=3,
        log_lines=17,
    ),
    # items (alice, none, 400), echo (201, 400), boom, text; not the 404 nor the schema. Validation
    # errors: the echo's bad body, the items' bad query parameter.
    "litestar": Framework(
        "contract_litestar_app.py",
        "python:litestar",
        ("python", "litestar", "app"),
        {"method": "GET", "path": "/never"},
        request_rows=7,
        validation_errors=2,
        log_lines=16,
        hidden_prefix="/schema",
    ),
}


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_same_payloads_as_the_official_client(hub: Any, name: str) -> None:
    framework = FRAMEWORKS[name]
    with both_clients(hub, framework.app) as official:
        compare(official, hub, framework)


def compare(official: Any, ours: Any, framework: Framework) -> None:
    (theirs_start,), (ours_start,) = official.bodies("startup"), ours.bodies("startup")
    assert (
        set(ours_start)
        == set(theirs_start)
        == {"instance_uuid", "message_uuid", "openapi", "paths", "versions", "client"}
    )
    assert sorted(map(str, ours_start["paths"])) == sorted(map(str, theirs_start["paths"]))
    assert framework.never_called in ours_start["paths"]
    if framework.hidden_prefix:
        assert not [p for p in ours_start["paths"] if p["path"].startswith(framework.hidden_prefix)]
    assert json.loads(ours_start["openapi"]) == json.loads(theirs_start["openapi"])
    assert ours_start["client"] == theirs_start["client"] == framework.client
    for package in framework.versions:
        assert ours_start["versions"][package] == theirs_start["versions"][package]

    assert sync_shapes(ours.bodies("sync")) == sync_shapes(official.bodies("sync"))
    assert merged_requests(ours) == merged_requests(official)
    assert len(merged_requests(ours)) == framework.request_rows
    assert server_errors(ours) == server_errors(official) and server_errors(ours)
    assert validation_errors(ours) == validation_errors(official)
    assert len(validation_errors(ours)) == framework.validation_errors
    assert consumers(ours) == consumers(official) and consumers(ours)

    ours_lines, theirs_lines = log_lines(ours), log_lines(official)
    assert len(ours_lines) == len(theirs_lines) == framework.log_lines
    assert_same_lines(ours_lines, theirs_lines)
