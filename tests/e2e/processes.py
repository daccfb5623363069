"""Instrumented apps run as real server processes: start, wait for the port, stop gracefully or kill."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
NODE = Path(__file__).resolve().parent / "node"


def official_python() -> str:
    """The Python of the virtual environment holding the official `apitally[flask]==0.25.1`."""
    python = os.environ.get("TALLYHUB_OFFICIAL_PYTHON") or str(REPO / ".venv-official" / "bin" / "python")
    if not Path(python).exists():
        raise RuntimeError(f"{python} does not exist: run `make setup` to build .venv-official")
    return python


def node_app() -> Path:
    """The Express app, once `make e2e-node` has installed its pinned packages."""
    if not (NODE / "node_modules" / "apitally" / "package.json").exists():
        raise RuntimeError(f"{NODE}/node_modules is missing: run `make e2e-node` (make test does)")
    return NODE / "app.mjs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclasses.dataclass
class AppProcess:
    """An instrumented API listening on 127.0.0.1:port, its output going to log_path."""

    argv: Sequence[str]
    env: Mapping[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 30) -> None:
        self._log = self.log_path.open("ab")
        # Not PYTEST_CURRENT_TEST: apitally 1.0 stays inactive (exports nothing) in a process that has it.
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        self.process = subprocess.Popen(
            list(self.argv), stdout=self._log, stderr=subprocess.STDOUT, env={**env, **self.env}
        )
        deadline = time.monotonic() + timeout
        # Only a TCP connect: an HTTP probe would be a request the client counts.
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"app did not listen on port {self.port}:\n{self.log()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait: the client flushes its last sync on the way out. Returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise RuntimeError(f"app did not exit within {timeout} s of SIGTERM:\n{self.log()}") from None
        self._close_log()
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
