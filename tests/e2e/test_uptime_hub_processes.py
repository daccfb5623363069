"""Two real `tallyhub serve` processes on one database: each health check runs once per interval, in
the background, while the hub keeps answering requests (both engines)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.support.http_target import HttpTarget
from tests.support.hub_process import HubProcess, free_port


def _wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_two_hubs_run_a_check_once_per_interval_without_blocking_requests(
    hub, database_url, tmp_path
) -> None:
    target = HttpTarget()
    target.behaviour.delay = 1.5  # a slow target: requests to the hub must not wait for it
    hub.stop()
    fast_ticks = {"TALLYHUB_UPTIME_TICK_SECONDS": "0.2"}
    hub.start(**fast_ticks)
    second = HubProcess(database_url, free_port(), tmp_path / "second.log")
    second.start(**fast_ticks)
    try:
        app = hub.create_app("Shop", "prod")
        hub.api("/apps")  # creates the token
        created = httpx.post(
            f"{hub.url}/api/v1/apps/{app['id']}/health-checks",
            json={"env": "prod", "url": target.url, "interval_seconds": 10, "timeout_seconds": 5},
            headers={"Authorization": f"Bearer {hub.token}"},
        )
        assert created.status_code == 201, created.text
        _wait_for(lambda: target.hits >= 1)
        slowest = 0.0
        for process in (hub, second) * 10:  # while the check waits on the slow target
            started = time.monotonic()
            assert httpx.get(f"{process.url}/healthz", timeout=5).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        assert slowest < 1.0
        check_path = f"/apps/{app['id']}/health-checks/{created.json()['id']}"
        _wait_for(lambda: hub.api(check_path)["last_result"] is not None)
        result = hub.api(check_path)["last_result"]
        assert result["ok"] is True and result["latency_ms"] >= 1500
        time.sleep(3)  # both hubs tick ~15 times more; the check is not due for another ~6 s
        assert target.hits == 1
    finally:
        second.stop()
        target.stop()
