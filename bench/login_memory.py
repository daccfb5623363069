"""Peak memory of a hub process under 40 concurrent sign-ins, with and without the password-check gate.

Issue #10: 40 concurrent logins took a hub from 132 MB to 997 MB, since each argon2 check holds 64 MB.
Runs `tallyhub serve` (SQLite in a temporary folder) twice: once with max_password_checks=40 (no
cap in effect) and once with the default (4). Each run sends 40 sign-ins with the right password at
once, each with its own X-Forwarded-For (the hub trusts 127.0.0.1 as a proxy here, so the per-address
limit stays out of the way), and reads the process's peak resident set (VmHWM) before and after.
Prints both peaks, the growth, and the capped/uncapped ratio, with the load average.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from tallyhub.accounts import users
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade

from tests.support.hub_process import HubProcess, free_port

LOGINS = 40
EMAIL, PASSWORD = "root@example.com", "a long password"


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert found, status
    return int(found.group(1)) / 1024


def _sign_in(url: str, i: int, start: threading.Barrier) -> int:
    with httpx.Client(base_url=url, timeout=300) as client:
        page = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
        assert token
        start.wait()
        response = client.post(
            "/login",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
            headers={"X-Forwarded-For": f"198.51.{i // 250}.{i % 250 + 1}"},
        )
        return response.status_code


def run(max_checks: int, folder: Path) -> tuple[float, float, float, list[int]]:
    """(peak MB after start, peak MB after the logins, seconds for the logins, statuses)."""
    url = f"sqlite:///{folder / f'hub-{max_checks}.sqlite3'}"
    db = Database(url)
    upgrade(db)
    with db.write() as conn:
        users.create_user(conn, EMAIL, users.hash_password(PASSWORD))
    db.dispose()
    hub = HubProcess(url, free_port(), folder / f"hub-{max_checks}.log")
    hub.start(
        TALLYHUB_MAX_PASSWORD_CHECKS=str(max_checks),
        TALLYHUB_PASSWORD_CHECK_WAIT_SECONDS="300",
        TALLYHUB_TRUSTED_PROXIES="127.0.0.1",
    )
    try:
        assert hub.process is not None
        before = _peak_rss_mb(hub.process.pid)
        start = threading.Barrier(LOGINS)
        began = time.perf_counter()
        with ThreadPoolExecutor(LOGINS) as pool:
            statuses = list(pool.map(lambda i: _sign_in(hub.url, i, start), range(LOGINS)))
        seconds = time.perf_counter() - began
        after = _peak_rss_mb(hub.process.pid)
    finally:
        hub.stop()
    return before, after, seconds, statuses


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, checks in (("uncapped (40)", LOGINS), ("capped (4)", 4)):
            before, after, seconds, statuses = run(checks, Path(tmp))
            ok = statuses.count(303)
            results[label] = after
            print(
                f"{label:>14}: peak RSS {before:4.0f} MB after start, {after:4.0f} MB after {LOGINS} "
                f"concurrent sign-ins (+{after - before:.0f} MB); {ok}/{LOGINS} signed in, {seconds:.1f} s"
            )
        ratio = results["capped (4)"] / results["uncapped (40)"]
        print(f"capped / uncapped peak RSS: {ratio:.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
