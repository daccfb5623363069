"""What the contract tests share: running a scripted app under either client, and the payloads the
recording hub received, merged over syncs so that how the traffic split across syncs (each client
syncs on its own clock) never matters, only what was reported in all."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .conftest import APPS, official_env, official_python


def run(python: str, hub: Any, app: str) -> None:
    """Run `apps/<app>` under `python` against `hub`; it returns once the process has exited, that
    is after the client's exit hook sent its final sync and logs."""
    env = official_env() if python == official_python() else dict(os.environ)
    env["APITALLY_HUB_BASE_URL"] = hub.url
    env.pop("APITALLY_STRICT", None)
    done = subprocess.run([python, str(APPS / app)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]


@contextmanager
def both_clients(ours: Any, app: str) -> Iterator[Any]:
    """Run `apps/<app>` under the official client, against a recording hub of its own (yielded), and
    then under this client, against `ours`."""
    official = type(ours)()
    try:
        run(official_python(), official, app)
        run(sys.executable, ours, app)
        yield official
    finally:
        official.close()


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


def sync_shapes(syncs: list[dict[str, Any]]) -> dict[str, Any]:
    """Key sets, scalar types and item shapes over all syncs."""
    out: dict[str, Any] = {"keys": {repr(sorted(s)) for s in syncs}}
    for key in ("instance_uuid", "message_uuid", "timestamp"):
        out[key] = {type(s[key]).__name__ for s in syncs}
    for key in ("requests", "validation_errors", "server_errors", "consumers"):
        out[key] = set().union(*(shape(s[key]) for s in syncs))
    return out


def server_errors(hub: Any) -> dict[tuple[Any, ...], int]:
    """Server errors over all syncs: count per (consumer, method, path, type, msg, last traceback
    line, sentry_event_id)."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for sync in hub.bodies("sync"):
        for e in sync["server_errors"]:
            key = (e["consumer"], e["method"], e["path"], e["type"], e["msg"])
            counts[(*key, e["traceback"].splitlines()[-1], e["sentry_event_id"])] += e["error_count"]
    return dict(counts)


def validation_errors(hub: Any) -> dict[str, int]:
    """Validation errors over all syncs: count per error (its JSON without the count)."""
    counts: Counter[str] = Counter()
    for sync in hub.bodies("sync"):
        for e in sync["validation_errors"]:
            counts[json.dumps({k: v for k, v in e.items() if k != "error_count"}, sort_keys=True)] += e[
                "error_count"
            ]
    return dict(counts)


def consumers(hub: Any) -> list[str]:
    return sorted(map(str, (c for s in hub.bodies("sync") for c in s["consumers"])))


def log_lines(hub: Any) -> list[dict[str, Any]]:
    """The request-log lines, each reduced to what both clients must agree on, in a stable order."""
    out = []
    for line in hub.log_lines():
        req, resp = line["request"], line["response"]
        out.append(
            {
                "keys": (sorted(line), sorted(req), sorted(resp)),
                "request": (req["method"], req.get("path"), req["url"], req.get("consumer"), req.get("size")),
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


def assert_same_lines(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """Equal lines, but for JSON bodies that differ only in key order or spacing."""
    assert len(ours) == len(theirs)
    for mine, other in zip(ours, theirs, strict=True):
        for key in ("keys", "request", "headers", "response", "exception"):
            assert mine[key] == other[key]
        for a, b in zip(mine["bodies"], other["bodies"], strict=True):
            assert (a is None) == (b is None)
            if a is not None and a.startswith((b"{", b"[")):
                assert json.loads(a) == json.loads(b)
            else:
                assert a == b
