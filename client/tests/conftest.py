"""Fixtures of the client tests: a recording hub on a real socket, and apps instrumented against it."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from apitally.client import guard, worker

APPS = pathlib.Path(__file__).parent / "apps"
ROOT = pathlib.Path(__file__).parents[2]
CLIENT_ID = "8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11"


def official_python() -> str:
    """The interpreter of the official client's virtual environment (see the Makefile)."""
    return os.environ.get("TALLYHUB_OFFICIAL_PYTHON") or str(ROOT / ".venv-official" / "bin" / "python")


def official_env(**extra: str) -> dict[str, str]:
    """The environment of a process of the official client: no PYTHONPATH folder holding an
    `apitally` package (client/src on PYTHONPATH, as worktrees set it, made it import ours)."""
    env = dict(os.environ, **extra)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if not (pathlib.Path(p) / "apitally").is_dir())
    return env


class RecordingHub:
    """A Hub v2 stand-in: records every POST; `answers` maps a path suffix to a status (default 202)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answers: dict[str, int | Callable[[], tuple[int, bytes]]] = {}
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                if self.headers.get("Transfer-Encoding") == "chunked":
                    body = b""
                    while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.path.split("?")[0].rsplit("/", 1)[-1]
                with hub.lock:
                    hub.calls.append(
                        {"path": self.path, "kind": kind, "headers": dict(self.headers), "body": body}
                    )
                    answer = hub.answers.get(kind, 202)
                status, data = answer() if callable(answer) else (answer, b'{"detail":"recorded"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(c["body"]) for c in self.calls if c["kind"] == kind]

    def log_lines(self) -> list[dict[str, Any]]:
        with self.lock:
            files = [c["body"] for c in self.calls if c["kind"] == "log"]
        return [json.loads(line) for f in files for line in gzip.decompress(f).splitlines()]

    def requests(self) -> list[dict[str, Any]]:
        return [r for sync in self.bodies("sync") for r in sync["requests"]]

    def count(self, **match: Any) -> int:
        """Requests counted in all syncs so far whose keys equal `match`."""
        return sum(
            r["request_count"] for r in self.requests() if all(r.get(k) == v for k, v in match.items())
        )

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()


@pytest.fixture(autouse=True)
def strict_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault of the client's own code fails the test instead of being logged."""
    monkeypatch.setattr(guard, "STRICT", True)


@pytest.fixture(autouse=True)
def stop_clients() -> Iterator[None]:
    """Each test's clients stop (with their final flush) at the end of that test."""
    before = set(worker._clients)
    yield
    for client in set(worker._clients) - before:
        client.shutdown(timeout=2.0)


@pytest.fixture
def hub() -> Iterator[RecordingHub]:
    recording = RecordingHub()
    yield recording
    recording.close()


@pytest.fixture
def subprocess_env(hub: RecordingHub) -> dict[str, str]:
    """Environment for a process running an app of tests/apps (e.g. the seed app) against `hub`."""
    env = dict(os.environ, APITALLY_HUB_BASE_URL=hub.url, APITALLY_STRICT="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(APPS), env.get("PYTHONPATH", "")] if p)
    return env


@pytest.fixture
def venv_bin() -> pathlib.Path:
    """The bin folder of the virtual environment running the tests (servers live there)."""
    return pathlib.Path(sys.executable).parent
