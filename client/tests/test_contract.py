"""Same traffic through this client and the official apitally[flask]==0.25.1: same payloads.

The official client runs from its own virtual environment (both use the import name `apitally`);
each process sends to a recording hub of its own. Ids, timestamps and versions aside, the payloads
must have the same keys, types and aggregate values.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

APPS = pathlib.Path(__file__).parent / "apps"
ROOT = pathlib.Path(__file__).parents[2]


def official_python() -> str:
    return os.environ.get("TALLYHUB_OFFICIAL_PYTHON") or str(ROOT / ".venv-official" / "bin" / "python")


def run(python: str, hub: Any) -> None:
    env = dict(os.environ, APITALLY_HUB_BASE_URL=hub.url)
    env.pop("APITALLY_STRICT", None)
    done = subprocess.run(
        [python, str(APPS / "contract_app.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]


def merged_requests(hub: Any) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in hub.requests():
        key = (row["consumer"], row["method"], row["path"], row["status_code"])
        into = rows.setdefault(
            key, {"request_count": 0, "request_size_sum": 0, "response_size_sum": 0, "times": 0}
        )
        for name in ("request_count", "request_size_sum", "response_size_sum"):
            into[name] += row[name]
        into["times"] += sum(row["response_times"].values())
        for name in ("request_sizes", "response_sizes"):
            for k, v in row[name].items():
                into.setdefault(name, {}).setdefault(k, 0)
                into[name][k] += v
    return rows


def shape(value: Any) -> Any:
    """The JSON type structure of a value (dict keys kept, list items merged)."""
    if isinstance(value, dict) and value and all(k.isdigit() for k in value):  # a histogram: bins vary
        return {"<bin>": sorted({repr(shape(v)) for v in value.values()})}
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted({repr(shape(v)) for v in value})
    return type(value).__name__


def test_same_payloads_as_the_official_client(hub: Any) -> None:
    official = type(hub)()
    try:
        run(official_python(), official)
        run(sys.executable, hub)
        compare(official, hub)
    finally:
        official.close()


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

    def shapes(syncs: list[dict[str, Any]]) -> dict[str, Any]:
        """Key sets, scalar types and item shapes over all syncs (traffic may split across syncs)."""
        out: dict[str, Any] = {"keys": {repr(sorted(s)) for s in syncs}}
        for key in ("instance_uuid", "message_uuid", "timestamp"):
            out[key] = {type(s[key]).__name__ for s in syncs}
        for key in ("requests", "validation_errors", "server_errors", "consumers"):
            out[key] = set().union(*(shape(s[key]) for s in syncs))
        return out

    assert shapes(ours_syncs) == shapes(theirs_syncs)
    for syncs in (theirs_syncs, ours_syncs):
        assert all(set(s["resources"]) == {"cpu_percent", "memory_rss"} for s in syncs if s["resources"])
    assert merged_requests(ours) == merged_requests(official)
    assert len(merged_requests(ours)) == 5  # items (alice, none), echo, boom, text; not the 404

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
            for s in hub.bodies("sync")
            for e in s["server_errors"]
        )

    assert errors(ours) == errors(official) and errors(ours)
    consumers = [
        sorted(map(str, (c for s in h.bodies("sync") for c in s["consumers"]))) for h in (ours, official)
    ]
    assert consumers[0] == consumers[1] and consumers[0]

    # request logs: the same requests, keys, masking and bodies
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
                    "response": (resp["status_code"], resp.get("size"), sorted(map(tuple, resp["headers"]))),
                    "bodies": [base64.b64decode(p["body"]) if "body" in p else None for p in (req, resp)],
                    "exception": line.get("exception", {}).get("type"),
                }
            )
        return sorted(out, key=repr)

    ours_lines, theirs_lines = lines(ours), lines(official)
    assert len(ours_lines) == len(theirs_lines) == 14
    for mine, theirs in zip(ours_lines, theirs_lines, strict=True):
        assert mine["keys"] == theirs["keys"]
        assert mine["request"] == theirs["request"]
        assert mine["headers"] == theirs["headers"]
        assert mine["response"] == theirs["response"]
        assert mine["exception"] == theirs["exception"]
        for a, b in zip(mine["bodies"], theirs["bodies"], strict=True):
            assert (a is None) == (b is None)
            if a is not None and a.startswith(b"{"):
                assert json.loads(a) == json.loads(b)
            else:
                assert a == b
