"""Same traffic through this client and the official apitally[fastapi]==0.25.1: same payloads.

As `test_contract` does for Flask: each client runs `apps/contract_fastapi_app.py` from its own
interpreter (the official one from its virtual environment) against a recording hub of its own;
ids, timestamps, versions and response times aside, the startup, sync and log payloads must have
the same keys, types and aggregate values.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from .conftest import APPS, official_python
from .test_contract import merged_requests, shape

pytestmark = pytest.mark.e2e


def run(python: str, hub: Any) -> None:
    env = dict(os.environ, APITALLY_HUB_BASE_URL=hub.url)
    env.pop("APITALLY_STRICT", None)
    done = subprocess.run(
        [python, str(APPS / "contract_fastapi_app.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_same_payloads_as_the_official_fastapi_client(hub: Any) -> None:
    official = type(hub)()
    try:
        run(official_python(), official)
        run(sys.executable, hub)
        compare(official, hub)
    finally:
        official.close()


def _syncs(hub: Any) -> list[dict[str, Any]]:
    return hub.bodies("sync")


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

    theirs_syncs, ours_syncs = _syncs(official), _syncs(ours)

    def shapes(syncs: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"keys": {repr(sorted(s)) for s in syncs}}
        for key in ("instance_uuid", "message_uuid", "timestamp"):
            out[key] = {type(s[key]).__name__ for s in syncs}
        for key in ("requests", "validation_errors", "server_errors", "consumers"):
            out[key] = set().union(*(shape(s[key]) for s in syncs))
        return out

    assert shapes(ours_syncs) == shapes(theirs_syncs)
    assert merged_requests(ours) == merged_requests(official)
    # items (alice, none, 422), echo (200, 422), boom, text; not the 404
    assert len(merged_requests(ours)) == 7

    def errors(hub: Any) -> list[tuple[Any, ...]]:
        return sorted(
            (
                e["consumer"],
                e["method"],
                e["path"],
                e["type"],
                e["msg"],
                e["error_count"],
                e["traceback"].splitlines()[-1],
                e["sentry_event_id"],
            )
            for s in _syncs(hub)
            for e in s["server_errors"]
        )

    assert errors(ours) == errors(official) and errors(ours)

    def validation(hub: Any) -> list[str]:
        return sorted(json.dumps(e, sort_keys=True) for s in _syncs(hub) for e in s["validation_errors"])

    assert validation(ours) == validation(official) and len(validation(ours)) == 3
    consumers = [sorted(map(str, (c for s in _syncs(h) for c in s["consumers"]))) for h in (ours, official)]
    assert consumers[0] == consumers[1] and consumers[0]

    def lines(hub: Any) -> list[dict[str, Any]]:
        out = []
        for line in hub.log_lines():
            req, resp = line["request"], line["response"]
            out.append(
                {
                    "keys": (sorted(line), sorted(req), sorted(resp)),
                    "request": (
                        req["method"],
                        req.get("path"),
                        req["url"],
                        req.get("consumer"),
                        req.get("size"),
                    ),
                    "headers": sorted(map(tuple, req.get("headers", []))),
                    "response": (
                        resp["status_code"],
                        resp.get("size"),
                        sorted(map(tuple, resp.get("headers", []))),
                    ),
                    "bodies": [base64.b64decode(p["body"]) if "body" in p else None for p in (req, resp)],
                    "exception": line.get("exception", {}).get("type"),
                }
            )
        return sorted(out, key=lambda item: repr({k: v for k, v in item.items() if k != "keys"}))

    ours_lines, theirs_lines = lines(ours), lines(official)
    assert len(ours_lines) == len(theirs_lines) == 17
    for mine, theirs in zip(ours_lines, theirs_lines, strict=True):
        assert mine == theirs or _same_bodies(mine, theirs)


def _same_bodies(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Equal but for JSON bodies that differ only in key order or spacing."""
    for key in ("keys", "request", "headers", "response", "exception"):
        assert mine[key] == theirs[key]
    for a, b in zip(mine["bodies"], theirs["bodies"], strict=True):
        assert (a is None) == (b is None)
        if a is not None and a.startswith(b"{"):
            assert json.loads(a) == json.loads(b)
        else:
            assert a == b
    return True
