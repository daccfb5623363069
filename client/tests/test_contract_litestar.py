"""Same traffic through this client and the official apitally[litestar]==0.25.1: same payloads.

As `test_contract_asgi` does for FastAPI: each client runs `apps/contract_litestar_app.py` from its
own interpreter (the official one from its virtual environment) against a recording hub of its own;
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


def test_same_payloads_as_the_official_litestar_client(hub: Any) -> None:
    official = type(hub)()
    try:
        run(official_python(), official, "contract_litestar_app.py")
        run(sys.executable, hub, "contract_litestar_app.py")
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
    assert {"method": "GET", "path": "/never"} in ours_start["paths"]
    assert not [p for p in ours_start["paths"] if p["path"].startswith("/schema")]
    assert json.loads(ours_start["openapi"]) == json.loads(theirs_start["openapi"])
    assert ours_start["client"] == theirs_start["client"] == "python:litestar"
    for name in ("python", "litestar", "app"):
        assert ours_start["versions"][name] == theirs_start["versions"][name]

    assert sync_shapes(ours.bodies("sync")) == sync_shapes(official.bodies("sync"))
    assert merged_requests(ours) == merged_requests(official)
    # items (alice, none, 400), echo (201, 400), boom, text; not the 404 nor the schema
    assert len(merged_requests(ours)) == 7
    assert server_errors(ours) == server_errors(official) and server_errors(ours)
    # the echo's bad body, the items' bad query parameter
    assert validation_errors(ours) == validation_errors(official) and len(validation_errors(ours)) == 2
    assert consumers(ours) == consumers(official) and consumers(ours)

    ours_lines, theirs_lines = log_lines(ours), log_lines(official)
    assert len(ours_lines) == len(theirs_lines) == 16
    assert_same_lines(ours_lines, theirs_lines)
