"""The hub against this project's Django client (apitally.django) on Django Ninja, in a real gunicorn
server with two sync workers."""

from __future__ import annotations

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
from tests.e2e.mix import BOB, DJANGO, phase
from tests.e2e.model import Expected
from tests.e2e.processes import APPS
from tests.e2e.traffic import send

if TYPE_CHECKING:
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

ENV = "prod"


@pytest.fixture
def ours_django_app(tmp_path: Path) -> Iterator[StartApp]:
    """apps/ours_django.py under gunicorn, with request logging, run by the test's own Python."""
    yield from _app_starter([sys.executable, str(APPS / "ours_django.py")], tmp_path, E2E_REQUEST_LOGGING="1")


def test_counts_consumers_errors_validation_and_request_logs_equal_what_was_sent(
    hub: HubProcess, ours_django_app: StartApp
) -> None:
    app, view = start_instrumented(hub, ours_django_app, ENV, instances=2)  # one per gunicorn worker
    sent = send(app.url, [*phase(DJANGO, 1), *phase(DJANGO, 2)])
    expected = Expected(sent)
    # SIGTERM: gunicorn stops its workers gracefully; each one's exit hook sends its last sync and logs.
    assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"
    context = logs(hub, app)
    wait_for(
        lambda: view.total_requests() == expected.totals.requests,
        20,
        f"the hub did not report the {expected.totals.requests} requests sent",
        context,
    )
    assert_reports(view, expected, DJANGO.routes())  # includes DELETE, known from startup only
    assert expected.validation_errors, "the mix has 422s"

    for instance in view.instances():
        assert instance["client"] == "python:django"
        assert instance["app_version"] == "1.0.0-e2e"
        assert "django" in instance["versions"] and "gunicorn" in instance["versions"]

    assert_errors_and_slow_route(view)

    # Every request to an API route is a request log; as with the official client, a request that
    # matched no route is not.
    routed = [s for s in sent if s.call.route is not None]
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
            for s in routed
        ),
    )
    assert any(i["consumer"] == BOB.identifier for i in items)
