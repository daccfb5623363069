"""The hub against the official Python client (apitally[flask]==0.25.1) in a real Flask server process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.checks import assert_reports, logs, start_instrumented, wait_for
from tests.e2e.conftest import StartApp
from tests.e2e.mix import BOB, CAROL, FLASK, phase
from tests.e2e.model import Expected, api_stats
from tests.e2e.proxy import LossyProxy
from tests.e2e.traffic import send

if TYPE_CHECKING:
    # Only for annotations: the root conftest is not importable once pytest loads another conftest.py.
    from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e

ENV = "prod"
GIVE_UP = "Giving up _send_sync_data"  # what backoff logs when a sync failed three times


def test_counts_sizes_consumers_endpoints_and_errors_equal_what_was_sent(
    hub: HubProcess, official_flask_app: StartApp
) -> None:
    app, view = start_instrumented(hub, official_flask_app, ENV)
    sent = Expected(send(app.url, [*phase(FLASK, 1), *phase(FLASK, 2)]))
    # A graceful stop: the client's atexit hook sends the last sync.
    assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"

    wait_for(
        lambda: view.total_requests() == sent.totals.requests,
        15,
        f"the hub did not report the {sent.totals.requests} requests sent",
        logs(hub, app),
    )
    assert_reports(view, sent, FLASK.routes())

    (instance,) = view.instances()
    assert instance["client"] == "python:flask"
    assert instance["versions"]["apitally"] == "0.25.1"
    assert instance["app_version"] == "1.0.0-e2e"

    # Filters narrow every figure the same way the model does.
    five_xx = view.get("traffic", status="5xx")["totals"]
    assert (five_xx["requests"], five_xx["requests_5xx"]) == (sent.statuses[500], sent.statuses[500])
    assert view.get("traffic", status="404")["totals"]["requests"] == sent.statuses[404]
    bob = view.get("traffic", consumer=BOB.identifier)["totals"]
    assert api_stats(bob) == api_stats(sent.consumers[BOB.identifier].as_api())
    partners = {c["identifier"] for c in view.get("consumers", group="Partners")}
    assert partners == {BOB.identifier, CAROL.identifier}
    # A route template in another framework's syntax selects the same endpoint.
    put = view.get("traffic", method="put", path="/items/{item_id}")["totals"]
    assert api_stats(put) == api_stats(sent.endpoints[("PUT", FLASK.item)].as_api())
    bob_errors = view.get("errors", consumer=BOB.identifier)["server_errors"]
    assert {(e["type"], e["msg"], e["count"]) for e in bob_errors} == {
        (error_type, msg, consumers.count(BOB.identifier))
        for (_, _, error_type, msg), consumers in sent.server_errors.items()
        if BOB.identifier in consumers
    }
    for error in view.get("errors")["server_errors"]:
        assert error["traceback"].startswith("Traceback (most recent call last):")
        assert error["traceback"].rstrip().endswith(error["msg"])

    # /slow sleeps 120 ms before answering: its median cannot be below that bin.
    (slow,) = [e for e in view.get("endpoints") if e["path"] == "/slow"]
    assert slow["p50"] is not None and slow["p50"] >= 120


def test_hub_killed_and_restarted_mid_run_loses_nothing_and_counts_nothing_twice(
    hub: HubProcess, official_flask_app: StartApp
) -> None:
    app, view = start_instrumented(hub, official_flask_app, ENV)
    context = logs(hub, app)

    first = send(app.url, phase(FLASK, 1))
    acknowledged = Expected(first).totals.requests
    wait_for(
        lambda: view.total_requests() == acknowledged,
        25,
        f"the client's periodic sync did not deliver the first {acknowledged} requests",
        context,
    )

    failed_before = app.log().count(GIVE_UP)
    hub.kill()  # SIGKILL, while the app keeps serving
    second = send(app.url, phase(FLASK, 2))
    wait_for(
        lambda: app.log().count(GIVE_UP) > failed_before,
        30,
        "the client never failed a sync while the hub was down",
        context,
    )

    hub.start()  # same port, same database
    after_restart = view.total_requests()
    assert after_restart >= acknowledged, "requests the hub had acknowledged before SIGKILL were lost"

    third = send(app.url, phase(FLASK, 3))
    # The client's atexit hook sends the syncs queued during the outage, then the last one.
    assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"
    everything = Expected([*first, *second, *third])
    wait_for(
        lambda: view.total_requests() >= everything.totals.requests,
        15,
        f"the hub did not report all {everything.totals.requests} requests sent",
        context,
    )
    assert_reports(view, everything, FLASK.routes())


def test_a_sync_whose_answer_is_lost_is_retried_and_counted_once(
    hub: HubProcess, official_flask_app: StartApp
) -> None:
    with LossyProxy(hub.url, drop=1) as proxy:
        app, view = start_instrumented(hub, official_flask_app, ENV, hub_url=proxy.url)
        context = logs(hub, app)
        sent = Expected(send(app.url, phase(FLASK, 1)))
        assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"

    (lost,) = [f for f in proxy.forwarded if f.dropped]
    assert lost.hub_status < 300, f"the hub refused the sync whose answer was lost: {lost}"
    again = [f for f in proxy.forwarded if f.message_uuid == lost.message_uuid and not f.dropped]
    assert again and all(f.hub_status < 300 for f in again), (
        f"the client did not retry the sync with the same message_uuid, or the hub refused it: {again}"
    )
    wait_for(
        lambda: view.total_requests() >= sent.totals.requests,
        15,
        f"the hub did not report the {sent.totals.requests} requests sent",
        context,
    )
    assert_reports(view, sent, FLASK.routes())


def test_hub_killed_after_storing_a_sync_before_answering_counts_it_once(
    hub: HubProcess, official_flask_app: StartApp
) -> None:
    with LossyProxy(hub.url, drop=1, on_drop=hub.kill) as proxy:
        app, view = start_instrumented(hub, official_flask_app, ENV, hub_url=proxy.url)
        context = logs(hub, app)
        # After the first (empty) sync, so that the next periodic sync carries all of the first phase.
        wait_for(lambda: any(f.path.endswith("/sync") for f in proxy.forwarded), 10, "no first sync", context)
        first = Expected(send(app.url, phase(FLASK, 1)))
        # The hub stores that sync and is SIGKILLed before its answer leaves; the client retries in vain.
        wait_for(lambda: GIVE_UP in app.log(), 30, "the client never failed a sync", context)

        hub.start()  # same port, same database
        assert view.total_requests() == first.totals.requests, "the sync stored before SIGKILL was lost"
        second = send(app.url, phase(FLASK, 2))
        # The client's atexit hook sends the queued sync again (same message_uuid), then the last one.
        assert app.stop() == 0, f"the app did not exit cleanly:\n{app.log()}"

    (lost,) = [f for f in proxy.forwarded if f.dropped]
    assert lost.hub_status < 300, f"the hub refused the sync it was killed after: {lost}"
    again = [f for f in proxy.forwarded if f.message_uuid == lost.message_uuid and not f.dropped]
    assert again and all(f.hub_status < 300 for f in again), (
        f"the client did not send the sync again after the restart, or the hub refused it: {again}"
    )
    everything = Expected([*first.sent, *second])
    wait_for(
        lambda: view.total_requests() >= everything.totals.requests,
        15,
        f"the hub did not report all {everything.totals.requests} requests sent",
        context,
    )
    assert_reports(view, everything, FLASK.routes())
