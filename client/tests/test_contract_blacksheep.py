"""Same traffic through this client and the official apitally[blacksheep]==0.25.1: same payloads, but
where the official one reports what the client never received.

As `test_contract_asgi` does: each client runs `apps/contract_blacksheep_app.py` from its own
interpreter against a recording hub of its own. The official client is a BlackSheep middleware that
sees an exception before BlackSheep answers it: it reports every exception as a 500 with no response
(a `BadRequest` answered 400, a `NotFound` 404), and each as a server error. Ours measures at the ASGI
interface: the status, size, headers and body the client received, and server errors for 500s only.
Everything else must agree.
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
    validation_errors,
)

pytestmark = pytest.mark.e2e

# (consumer, method, path) of the requests BlackSheep answered with a 400 (the rejected query
# parameter, the rejected body), and how many.
ANSWERED_400 = {(None, "GET", "/items/{item_id}"): 1, ("bob", "POST", "/echo"): 2}
INTERNAL_ERROR = b"Internal Server Error"  # BlackSheep's 500 body


def test_same_payloads_as_the_official_blacksheep_client(hub: Any) -> None:
    with both_clients(hub, "contract_blacksheep_app.py") as official:
        compare(official, hub)


def compare(official: Any, ours: Any) -> None:
    (theirs_start,), (ours_start,) = official.bodies("startup"), ours.bodies("startup")
    assert (
        set(ours_start)
        == set(theirs_start)
        == {"instance_uuid", "message_uuid", "paths", "versions", "client"}
    )
    assert sorted(map(str, ours_start["paths"])) == sorted(map(str, theirs_start["paths"]))
    assert {"method": "GET", "path": "/never"} in ours_start["paths"]
    (item,) = [p for p in ours_start["paths"] if p["path"] == "/items/{item_id}"]
    assert item["summary"] == "Get one item." and "page size" in item["description"]
    assert ours_start["client"] == theirs_start["client"] == "python:blacksheep"
    for name in ("python", "blacksheep", "app"):
        assert ours_start["versions"][name] == theirs_start["versions"][name]

    ours_shapes, theirs_shapes = sync_shapes(ours.bodies("sync")), sync_shapes(official.bodies("sync"))
    for key in ("requests", "server_errors"):  # theirs adds rows without sizes, errors without consumers
        assert ours_shapes.pop(key) <= theirs_shapes.pop(key)
    assert ours_shapes == theirs_shapes
    mine, theirs = merged_requests(ours), merged_requests(official)
    # The 400s: the official client counts them as 500s with no response size.
    for (consumer, method, path), count in ANSWERED_400.items():
        answered, misreported = (
            mine.pop((consumer, method, path, 400)),
            theirs.pop((consumer, method, path, 500)),
        )
        assert answered["request_count"] == misreported["request_count"] == count
        assert answered["request_size_sum"] == misreported["request_size_sum"]
        assert answered["response_size_sum"] > 0 and misreported["response_size_sum"] == 0
    # The boom's 500s: ours has the size of the body BlackSheep sent, the official client none.
    boom = ("carol", "GET", "/boom", 500)
    assert (
        mine[boom]["response_size_sum"] == 2 * len(INTERNAL_ERROR) and theirs[boom]["response_size_sum"] == 0
    )
    for rows in (mine, theirs):
        for row in rows.values():
            row.pop("times")  # response times differ
        rows[boom].pop("response_size_sum")
        rows[boom].pop("response_sizes", None)
    assert mine == theirs
    # items (alice, none), echo (bob), boom, text; not the 404
    assert len(mine) == 5

    # Server errors: the boom's for both; the official client adds each 4xx's exception.
    assert server_errors(ours) == {
        key: count for key, count in server_errors(official).items() if key[3] == "builtins.ValueError"
    }
    assert len(server_errors(official)) == 3 and server_errors(ours)
    assert validation_errors(ours) == validation_errors(official) == {}  # neither reports BlackSheep's
    assert consumers(ours) == consumers(official) and consumers(ours)

    # Response header names: ours as BlackSheep sent them (lower case), the official client's
    # Content-Type and Content-Length as it adds them itself (capitalised).
    ours_lines, theirs_lines = (
        _lower_response_headers(log_lines(ours)),
        _lower_response_headers(log_lines(official)),
    )
    assert len(ours_lines) == len(theirs_lines) == 17
    agreeing = [line for line in ours_lines if line["exception"] is None]
    assert_same_lines(agreeing, [line for line in theirs_lines if line["exception"] is None])
    assert len(agreeing) == 11
    # The lines with an exception: the same request and exception; ours with the response sent.
    failed = sorted(
        (line for line in ours_lines if line["exception"]), key=lambda line: repr(line["request"])
    )
    reported = sorted(
        (line for line in theirs_lines if line["exception"]), key=lambda line: repr(line["request"])
    )
    assert [(line["request"], line["exception"]) for line in failed] == [
        (line["request"], line["exception"]) for line in reported
    ]
    assert {line["response"][0] for line in reported} == {500}
    statuses = sorted(line["response"][0] for line in failed)
    assert statuses == [400, 400, 400, 404, 500, 500]
    assert all(line["response"][1] and line["bodies"][1] for line in failed)


def _lower_response_headers(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for line in lines:
        status, size, headers = line["response"]
        line["response"] = (status, size, sorted((name.lower(), value) for name, value in headers))
    return lines
