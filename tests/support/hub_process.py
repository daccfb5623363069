"""A hub running as a real process (`tallyhub serve`), and the `tallyhub` command."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tallyhub_cli(database_url: str, *args: str) -> str:
    """Run the `tallyhub` command against a database and return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "tallyhub", *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@dataclasses.dataclass
class HubProcess:
    """`tallyhub serve` running as a real process on a free port."""

    database_url: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    token: str = ""
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **env: str) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tallyhub",
                "serve",
                "--port",
                str(self.port),
                "--database-url",
                self.database_url,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Tests call targets on 127.0.0.1: the local network is allowed unless `env` says otherwise.
            env={**os.environ, "TALLYHUB_OUTBOUND_ALLOW_LOCAL": "true", **env},
        )
        # 90 s: at a load average of 12 on 2 cores, starting (imports, migrations) took over 30 s.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._close_log()
                raise RuntimeError(f"hub exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        # Stopped here, not left running with its log open for a later test to trip over.
        self.kill()
        raise RuntimeError(f"hub did not start: {self.log_path.read_text()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_log()

    def create_app(self, name: str, *envs: str) -> dict[str, object]:
        args = ["apps", "create", name, "--json"] + [a for e in envs for a in ("--env", e)]
        created: dict[str, object] = json.loads(tallyhub_cli(self.database_url, *args))
        return created

    def api(self, path: str, /, **params: object) -> object:
        """GET a read-API path (under /api/v1) and return the decoded JSON."""
        if not self.token:
            self.token = tallyhub_cli(self.database_url, "tokens", "create", "tests").strip()
        response = httpx.get(
            f"{self.url}/api/v1{path}",
            params={k: v for k, v in params.items() if v is not None},  # type: ignore[misc]
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()
