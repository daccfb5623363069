"""The request-log budget against the official Python client (apitally[flask]==0.25.1) in a real Flask server.

Past the budget the hub answers /log with 402 and Retry-After: the client must drop the refused file, log
nothing while suspended, and log again afterwards, which the hub then accepts (PROTOCOL.md §1A).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tallyhub.storage.database import Database
from tallyhub.storage.tables import request_logs

from tests.e2e.checks import logs, start_instrumented, wait_for
from tests.e2e.conftest import StartApp
from tests.e2e.proxy import Forwarded, LossyProxy
from tests.support.hub_process import HubProcess, free_port

pytestmark = pytest.mark.e2e

ENV = "prod"
WINDOW = 30  # seconds: the client syncs every 10 s in its first hour, so a refusal leaves a long suspension
BUDGET = 6000  # bytes: a few logged requests fit, 40 do not (a line is a few hundred bytes)


def stored_urls(database_url: str) -> set[str]:
    db = Database(database_url)
    try:
        with db.read() as conn:
            return {row.url for row in conn.execute(sa.select(request_logs.c.url))}
    finally:
        db.dispose()


def get(app_url: str, item_ids: range) -> set[str]:
    with httpx.Client(base_url=app_url, timeout=10) as client:
        for item_id in item_ids:
            assert client.get(f"/items/{item_id}").status_code == 200
    return {f"{app_url}/items/{item_id}" for item_id in item_ids}


def test_the_official_client_backs_off_on_402_and_logs_again_once_the_budget_allows(
    database_url: str, tmp_path: Path, official_flask_logging_app: StartApp
) -> None:
    hub = HubProcess(database_url, free_port(), tmp_path / "hub.log")
    hub.start(TALLYHUB_LOG_BUDGET_BYTES=str(BUDGET), TALLYHUB_LOG_BUDGET_SECONDS=str(WINDOW))
    try:
        with LossyProxy(hub.url, drop=0) as proxy:
            # Start early in a window, so that the refusal leaves several seconds of suspension.
            time.sleep(WINDOW - time.time() % WINDOW + 0.2)
            app, _ = start_instrumented(hub, official_flask_logging_app, ENV, hub_url=proxy.url)
            context = logs(hub, app)

            refused_urls = get(app.url, range(40))  # more than the budget in one file

            def refusals() -> list[Forwarded]:
                return [f for f in proxy.forwarded if "/log?" in f.path and f.hub_status == 402]

            wait_for(lambda: bool(refusals()), 25, "the hub never answered 402 to a log file", context)
            refused = refusals()[0]
            assert refused.retry_after is not None and 0 < int(refused.retry_after) <= WINDOW
            suspended_until = refused.at + int(refused.retry_after)
            # The client suspends itself and empties its queue on reading the 402; requests it took
            # before that are dropped with the queue, which says nothing about the suspension.
            time.sleep(1)

            suspended_urls = get(app.url, range(100, 105))  # while suspended: the client must not log these
            assert time.time() < suspended_until, "the requests meant for the suspension came after it"

            time.sleep(max(0.0, suspended_until - time.time()) + 2)  # the client lifts it within a second
            later_urls = get(app.url, range(200, 203))
            wait_for(
                lambda: later_urls <= stored_urls(hub.database_url),
                30,
                "the hub did not store the requests logged after the suspension",
                context,
            )
            assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"

        stored = stored_urls(hub.database_url)
        assert not stored & refused_urls, "lines of the refused file were stored"
        assert not stored & suspended_urls, "the client logged requests while suspended"
        logs_sent = [f for f in proxy.forwarded if "/log" in f.path]
        after = [f.hub_status for f in logs_sent if f.at > suspended_until]
        assert after and all(status == 202 for status in after), logs_sent
    finally:
        hub.stop()
