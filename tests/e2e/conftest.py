"""Fixtures for the end-to-end tests: instrumented apps running as real processes next to a real hub."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import free_port
from tests.e2e.processes import APPS, AppProcess, official_python

StartApp = Callable[..., AppProcess]


@pytest.fixture
def official_flask_app(tmp_path: Path) -> Iterator[StartApp]:
    """Start apps/official_flask.py (official apitally 0.25.1) with the official client's Python.

    Call it with hub_url, client_id and env; the process is killed at teardown if the test left it up.
    """
    started: list[AppProcess] = []

    def start(hub_url: str, client_id: str, env: str) -> AppProcess:
        port = free_port()
        app = AppProcess(
            argv=[official_python(), str(APPS / "official_flask.py")],
            env={
                "APITALLY_HUB_BASE_URL": hub_url,
                "APITALLY_DEBUG": "1",  # the client logs each sync and retry: the app log tells the story
                "E2E_CLIENT_ID": client_id,
                "E2E_ENV": env,
                "E2E_PORT": str(port),
                # The client keeps its instance-UUID lock files and request-log files in the temp dir.
                "TMPDIR": str(tmp_path),
                "PYTHONUNBUFFERED": "1",
            },
            port=port,
            log_path=tmp_path / f"app-{len(started)}.log",
        )
        started.append(app)
        app.start()
        return app

    yield start
    for app in started:
        app.kill()
