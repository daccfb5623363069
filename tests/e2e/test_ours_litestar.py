"""The hub against this project's Litestar client (apitally.litestar) in a real uvicorn server process."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.checks import assert_ours_delivered, start_instrumented
from tests.e2e.conftest import StartApp, _app_starter
from tests.e2e.mix import LITESTAR, phase
from tests.e2e.model import Expected
from tests.e2e.processes import APPS
from tests.e2e.traffic import send

if TYPE_CHECKING:
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

ENV = "prod"


@pytest.fixture
def ours_litestar_app(tmp_path: Path) -> Iterator[StartApp]:
    """apps/ours_litestar.py under uvicorn, with request logging, run by the test's own Python."""
    yield from _app_starter(
        [sys.executable, str(APPS / "ours_litestar.py")], tmp_path, E2E_REQUEST_LOGGING="1"
    )


def test_counts_consumers_errors_validation_and_request_logs_equal_what_was_sent(
    hub: HubProcess, ours_litestar_app: StartApp
) -> None:
    app, view = start_instrumented(hub, ours_litestar_app, ENV)
    sent = send(app.url, [*phase(LITESTAR, 1), *phase(LITESTAR, 2)], keep_alive=False)
    # SIGTERM: uvicorn runs the lifespan shutdown, whose hook the plugin uses to send its last sync and
    # logs, then re-raises the signal (hence the exit status).
    assert app.stop() == -signal.SIGTERM, f"the app did not exit cleanly:\n{app.log()}"
    # The plugin's middleware wraps each route: a request that matched none is neither counted nor
    # logged (as with the official client).
    assert_ours_delivered(
        hub,
        app,
        view,
        sent,
        LITESTAR,
        Expected(sent),
        client="python:litestar",
        versions=("litestar", "uvicorn"),
    )
