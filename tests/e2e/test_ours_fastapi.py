"""The hub against this project's FastAPI client (apitally.fastapi) in a real uvicorn server process."""

from __future__ import annotations

import dataclasses
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
from tests.e2e.mix import BOB, FASTAPI, phase
from tests.e2e.model import Expected
from tests.e2e.processes import APPS
from tests.e2e.traffic import send

if TYPE_CHECKING:
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

ENV = "prod"


@pytest.fixture
def ours_fastapi_app(tmp_path: Path) -> Iterator[StartApp]:
    """apps/ours_fastapi.py under uvicorn, with request logging, run by the test's own Python."""
    yield from _app_starter(
        [sys.executable, str(APPS / "ours_fastapi.py")], tmp_path, E2E_REQUEST_LOGGING="1"
    )


def test_counts_consumers_errors_validation_and_request_logs_equal_what_was_sent(
    hub: HubProcess, ours_fastapi_app: StartApp
) -> None:
    app, view = start_instrumented(hub, ours_fastapi_app, ENV)
    sent = send(app.url, [*phase(FASTAPI, 1), *phase(FASTAPI, 2)], keep_alive=False)
    # A 500 is sent by Starlette's ServerErrorMiddleware, outside any user middleware: like the
    # official client, ours sees no response, so it reports no size for it.
    expected = Expected(
        [dataclasses.replace(s, response_size=None) if s.call.status == 500 else s for s in sent]
    )
    # SIGTERM: uvicorn runs the lifespan shutdown, in which the client sends its last sync and logs,
    # then re-raises the signal (hence the exit status).
    assert app.stop() == -signal.SIGTERM, f"the app did not exit cleanly:\n{app.log()}"
    context = logs(hub, app)
    wait_for(
        lambda: view.total_requests() == expected.totals.requests,
        20,
        f"the hub did not report the {expected.totals.requests} requests sent",
        context,
    )
    assert_reports(view, expected, FASTAPI.routes())  # includes DELETE, known from startup only
    assert expected.validation_errors, "the mix has 422s"

    (instance,) = view.instances()
    assert instance["client"] == "python:starlette"
    assert instance["app_version"] == "1.0.0-e2e"
    assert "fastapi" in instance["versions"] and "uvicorn" in instance["versions"]

    assert_errors_and_slow_route(view)

    # Every request is a request log, those that matched no route too.
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
                s.call.consumer.identifier if s.call.consumer and s.call.route else None,
            )
            for s in sent
        ),
    )
    assert any(i["consumer"] == BOB.identifier for i in items)
