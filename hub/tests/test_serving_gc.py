"""Serving processes run with the collector tuned for request garbage (see tallyhub.app)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tallyhub.app import GC_YOUNG_THRESHOLD

# uvicorn.run is replaced by a probe: it reports the collector's state as the server would start.
PROBE = """
import gc, json, sys, uvicorn
def probe(*args, **kwargs):
    print(json.dumps({"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count()}))
uvicorn.run = probe
from tallyhub.cli import main
main(sys.argv[1:], standalone_mode=False)
"""


def _serve(tmp_path: Path, *args: str) -> dict[str, int]:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "serve", "--database-url", url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_one_process_hub_serves_with_the_tuned_collector(tmp_path: Path) -> None:
    state = _serve(tmp_path)
    assert state["threshold"] == GC_YOUNG_THRESHOLD and state["frozen"] > 0


def test_each_worker_process_builds_its_app_with_the_tuned_collector(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    code = (
        "import gc, json; from tallyhub.app import create_app_from_environment as build; build();"
        "print(json.dumps({'threshold': gc.get_threshold()[0], 'frozen': gc.get_freeze_count()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "TALLYHUB_DATABASE_URL": url},
    )
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["threshold"] == GC_YOUNG_THRESHOLD and state["frozen"] > 0
