"""The hub against the official npm client (apitally 0.25.8) in a real Express server process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.checks import assert_reports, logs, start_instrumented, wait_for
from tests.e2e.conftest import StartApp
from tests.e2e.mix import EXPRESS, phase
from tests.e2e.model import Expected
from tests.e2e.traffic import send

if TYPE_CHECKING:
    # Only for annotations: the root conftest is not importable once pytest loads another conftest.py.
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e


def test_counts_sizes_consumers_endpoints_and_errors_equal_what_was_sent(
    hub: HubProcess, official_express_app: StartApp
) -> None:
    app, view = start_instrumented(hub, official_express_app, "prod")
    sent = Expected(send(app.url, phase(EXPRESS, 1)))
    # The npm client has no public flush, so this waits for its next sync (every 10 s).
    wait_for(
        lambda: view.total_requests() == sent.totals.requests,
        25,
        f"the hub did not report the {sent.totals.requests} requests sent",
        logs(hub, app),
    )
    assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"
    assert_reports(view, sent, EXPRESS.routes())

    (instance,) = view.instances()
    assert instance["client"] == "js:express"
    assert instance["versions"]["apitally"] == "0.25.8"
    assert instance["app_version"] == "1.0.0-e2e"
    for error in view.get("errors")["server_errors"]:
        assert error["traceback"].startswith(f"{error['type']}: {error['msg']}\n    at ")
