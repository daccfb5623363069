"""Fixtures for the end-to-end tests: instrumented apps running as real processes next to a real hub."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import APPS, AppProcess, free_port, node_app, official_python

StartApp = Callable[[str, str, str], AppProcess]


def _app_starter(argv: list[str], tmp_path: Path, **extra_env: str) -> Iterator[StartApp]:
    """Start instrumented apps with hub_url, client_id and env; kill at teardown what is still up."""
    started: list[AppProcess] = []

    def start(hub_url: str, client_id: str, env: str) -> AppProcess:
        port = free_port()
        app = AppProcess(
            argv=argv,
            env={
                "APITALLY_HUB_BASE_URL": hub_url,
                "APITALLY_DEBUG": "1",  # the clients log each sync and retry: the app log tells the story
                "E2E_CLIENT_ID": client_id,
                "E2E_ENV": env,
                "E2E_PORT": str(port),
                # The client keeps its instance-UUID lock files and request-log files in the temp dir.
                "TMPDIR": str(tmp_path),
                "PYTHONUNBUFFERED": "1",
                **extra_env,
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


@pytest.fixture
def official_flask_app(tmp_path: Path) -> Iterator[StartApp]:
    """apps/official_flask.py (official apitally[flask] 0.25.1), run by the official client's Python."""
    yield from _app_starter([official_python(), str(APPS / "official_flask.py")], tmp_path)


@pytest.fixture
def official_flask_logging_app(tmp_path: Path) -> Iterator[StartApp]:
    """As official_flask_app, with the client's request logging on."""
    yield from _app_starter(
        [official_python(), str(APPS / "official_flask.py")], tmp_path, E2E_REQUEST_LOGGING="1"
    )


@pytest.fixture
def official_express_app(tmp_path: Path) -> Iterator[StartApp]:
    """node/app.mjs (official npm apitally 0.25.8 on Express), run by node."""
    yield from _app_starter(["node", str(node_app())], tmp_path)
