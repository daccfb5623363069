"""The hub against this project's BlackSheep client (apitally.blacksheep) in a real uvicorn server process."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.checks import (
    assert_errors_and_slow_route,
    assert_reports,
    assert_request_logs,
    logs,
    start_instrumented,
    wait_for,
)
from tests.e2e.conftest import StartApp, _app_starter
from tests.e2e.mix import BLACKSHEEP, BOB, phase
from tests.e2e.model import Expected
from tests.e2e.processes import APPS
from tests.e2e.traffic import send

if TYPE_CHECKING:
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

ENV = "prod"


@pytest.fixture
def ours_blacksheep_app(tmp_path: Path) -> Iterator[StartApp]:
    """apps/ours_blacksheep.py under uvicorn, with request logging, run by the test's own Python."""
    yield from _app_starter(
        [sys.executable, str(APPS / "ours_blacksheep.py")], tmp_path, E2E_REQUEST_LOGGING="1"
    )


def test_counts_consumers_errors_and_request_logs_equal_what_was_sent(
    hub: HubProcess, ours_blacksheep_app: StartApp
) -> None:
    app, view = start_instrumented(hub, ours_blacksheep_app, ENV)
    sent = send(app.url, [*phase(BLACKSHEEP, 1), *phase(BLACKSHEEP, 2)])
    # BlackSheep answers every exception itself, with a body: the client records the size sent.
    expected = Expected(sent)
    # SIGTERM: uvicorn runs the lifespan shutdown, in which the app's stop event sends the last sync
    # and logs, then re-raises the signal (hence the exit status).
    assert app.stop() == -signal.SIGTERM, f"the app did not exit cleanly:\n{app.log()}"
    context = logs(hub, app)
    wait_for(
        lambda: view.total_requests() == expected.totals.requests,
        20,
        f"the hub did not report the {expected.totals.requests} requests sent",
        context,
    )
    assert_reports(view, expected, BLACKSHEEP.routes())  # includes DELETE, known from startup only
    assert not expected.validation_errors, "BlackSheep's client reports none, as the official one"

    (instance,) = view.instances()
    assert instance["client"] == "python:blacksheep"
    assert instance["app_version"] == "1.0.0-e2e"
    assert "blacksheep" in instance["versions"] and "uvicorn" in instance["versions"]
    assert_errors_and_slow_route(view)

    # Every request is a request log, those that matched no route too (BlackSheep's fallback route
    # runs the authentication handler, so they have their consumer).
    items = assert_request_logs(
        view,
        app,
        context,
        (
            (
                s.call.method,
                s.call.url,
                s.call.route,
                s.call.status,
                s.call.consumer.identifier if s.call.consumer else None,
            )
            for s in sent
        ),
    )
    assert any(i["consumer"] == BOB.identifier for i in items)
