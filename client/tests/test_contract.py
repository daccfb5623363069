"""Same traffic through this client and the official apitally[flask]==0.25.1: same payloads.

The official client runs from its own virtual environment (both use the import name `apitally`);
each process sends to a recording hub of its own. Ids, timestamps and versions aside, the payloads
must have the same keys, types and aggregate values.
"""

from __future__ import annotations

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
)

pytestmark = pytest.mark.e2e


def test_same_payloads_as_the_official_client(hub: Any) -> None:
    with both_clients(hub, "contract_app.py") as official:
        compare(official, hub)


def compare(official: Any, ours: Any) -> None:
    # startup
    (theirs_start,), (ours_start,) = official.bodies("startup"), ours.bodies("startup")
    assert set(ours_start) == set(theirs_start)
    assert sorted(map(str, ours_start["paths"])) == sorted(map(str, theirs_start["paths"]))
    assert ours_start["client"] == theirs_start["client"] == "python:flask"
    for name in ("python", "flask", "app"):
        assert ours_start["versions"][name] == theirs_start["versions"][name]

    # sync: keys and types of every payload, then the aggregates
    theirs_syncs, ours_syncs = official.bodies("sync"), ours.bodies("sync")
    assert sync_shapes(ours_syncs) == sync_shapes(theirs_syncs)
    for syncs in (theirs_syncs, ours_syncs):
        assert all(set(s["resources"]) == {"cpu_percent", "memory_rss"} for s in syncs if s["resources"])
    assert merged_requests(ours) == merged_requests(official)
    assert len(merged_requests(ours)) == 5  # items (alice, none), echo, boom, text; not the 404
    assert server_errors(ours) == server_errors(official) and server_errors(ours)
    assert consumers(ours) == consumers(official) and consumers(ours)

    # request logs: the same requests, keys, masking and bodies
    ours_lines, theirs_lines = log_lines(ours), log_lines(official)
    assert len(ours_lines) == len(theirs_lines) == 14
    assert_same_lines(ours_lines, theirs_lines)
