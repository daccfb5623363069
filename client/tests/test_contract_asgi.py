"""Same traffic through this client and the official apitally[fastapi]==0.25.1: same payloads.

As `test_contract` does for Flask: each client runs `apps/contract_fastapi_app.py` from its own
interpreter (the official one from its virtual environment) against a recording hub of its own;
ids, timestamps, versions and response times aside, the startup, sync and log payloads must have
the same keys, types and aggregate values.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from .conftest import official_python
from .contract import (
    assert_same_lines,
    consumers,
    log_lines,
    merged_requests,
    run,
    server_errors,
    sync_shapes,
    validation_errors,
)

pytestmark = pytest.mark.e2e


def test_same_payloads_as_the_official_fastapi_client(hub: Any) -> None:
    official = type(hub)()
    try:
        run(official_python(), official, "contract_fastapi_app.py")
        run(sys.executable, hub, "contract_fastapi_app.py")
        compare(official, hub)
    finally:
        official.close()


def compare(official: Any, ours: Any) -> None:
    (theirs_start,), (ours_start,) = official.bodies("startup"), ours.bodies("startup")
    assert (
        set(ours_start)
        == set(theirs_start)
        == {
            "instance_uuid",
            "message_uuid",
            "openapi",
            "paths",
            "versions",
            "client",
        }
    )
    assert sorted(map(str, ours_start["paths"])) == sorted(map(str, theirs_start["paths"]))
    assert {"path": "/never", "method": "get"} in ours_start["paths"]
    assert json.loads(ours_start["openapi"]) == json.loads(theirs_start["openapi"])
    assert ours_start["client"] == theirs_start["client"] == "python:starlette"
    for name in ("python", "fastapi", "starlette", "app"):
        assert ours_start["versions"][name] == theirs_start["versions"][name]

    assert sync_shapes(ours.bodies("sync")) == sync_shapes(official.bodies("sync"))
    assert merged_requests(ours) == merged_requests(official)
    # items (alice, none, 422), echo (200, 422), boom, text; not the 404
    assert len(merged_requests(ours)) == 7
    assert server_errors(ours) == server_errors(official) and server_errors(ours)
    # password: wrong type, data: missing (twice); item_id: not an int (once)
    assert validation_errors(ours) == validation_errors(official) and len(validation_errors(ours)) == 3
    assert consumers(ours) == consumers(official) and consumers(ours)

    ours_lines, theirs_lines = log_lines(ours), log_lines(official)
    assert len(ours_lines) == len(theirs_lines) == 17
    assert_same_lines(ours_lines, theirs_lines)
