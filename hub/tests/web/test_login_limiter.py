"""The sign-in limiter and the password-check gate, through the login form (both engines)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tallyhub.accounts import login_attempts, users
from tallyhub.accounts.login_attempts import (
    MAX_FAILURES_PER_ACCOUNT_AND_IP,
    MAX_FAILURES_PER_IP,
    WINDOW_SECONDS,
)
from tallyhub.storage.database import Database
from tallyhub.storage.tables import login_attempts as attempts_table

from tests.support.hub_process import HubProcess, free_port
from tests.support.web import WEB_PASSWORD, Web, csrf_of


def _login(client: Any, email: str, password: str, **headers: str) -> Any:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, headers=headers
    )


class CountingVerify:
    """Wraps argon2's hasher: how many verifications ran, and how many at most ran at once."""

    def __init__(self, hasher: Any, hold: threading.Event | None = None) -> None:
        self._hasher = hasher
        self.hash = hasher.hash
        self._lock = threading.Lock()
        self._hold = hold
        self.calls = self.running = self.peak = 0

    def verify(self, stored: str, password: str) -> bool:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self._hold is not None:
                self._hold.wait(0.05)  # let concurrent checks overlap, as slow argon2 does
            return bool(self._hasher.verify(stored, password))
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch, cheap_argon2: None) -> CountingVerify:
    counter = CountingVerify(users._hasher, threading.Event())
    monkeypatch.setattr(users, "_hasher", counter)
    return counter


def test_failures_from_one_address_never_lock_the_owner_out_of_another(web: Web) -> None:
    web.user("ann@example.com")
    attacker = web.client(address="198.51.100.7")
    for i in range(MAX_FAILURES_PER_ACCOUNT_AND_IP):
        assert "Wrong e-mail" in _login(attacker, "ann@example.com", f"wrong {i}").text
    refused = _login(attacker, "ann@example.com", web.password)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= WINDOW_SECONDS
    # The owner, from an address that has not failed, signs in at once.
    owner = web.client(address="203.0.113.5")
    assert _login(owner, "ann@example.com", web.password).status_code == 303


def test_one_address_trying_many_accounts_is_stopped_and_others_are_not(web: Web) -> None:
    web.user("ann@example.com")
    attacker = web.client(address="198.51.100.7")
    for i in range(MAX_FAILURES_PER_IP):
        assert "Wrong e-mail" in _login(attacker, f"user{i}@example.com", "wrong password").text
    assert _login(attacker, "ann@example.com", web.password).status_code == 429
    assert _login(web.client(address="203.0.113.5"), "ann@example.com", web.password).status_code == 303


def test_the_window_slides_and_refusals_do_not_prolong_it(db: Database) -> None:
    now = 1_000_000.0
    for age in (600, 500, 400, 300, 200):
        login_attempts.record(db, "ann@example.com", "192.0.2.1", False, now - age)
    refused = login_attempts.begin(db, "Ann@example.com ", "192.0.2.1", now)
    assert refused.id is None
    assert refused.retry_after == WINDOW_SECONDS - 600  # until the oldest failure leaves the window
    assert login_attempts.begin(db, "ann@example.com", "192.0.2.1", now + 10).retry_after > 0
    heard = login_attempts.begin(db, "ann@example.com", "192.0.2.1", now + WINDOW_SECONDS - 599)
    assert heard.id is not None and heard.retry_after == 0
    with db.read() as conn:
        counted = conn.execute(sa.select(sa.func.count()).select_from(attempts_table)).scalar_one()
    assert counted == 5  # four failures still in the window and the one just heard; no refused rows


def test_a_right_password_is_not_counted_as_a_failure(web: Web) -> None:
    web.user("ann@example.com")
    client = web.client(address="198.51.100.7")
    for _ in range(MAX_FAILURES_PER_ACCOUNT_AND_IP + 2):
        assert _login(client, "ann@example.com", web.password).status_code == 303
        client.cookies.clear()
    assert "Wrong e-mail" in _login(client, "ann@example.com", "wrong").text


def test_concurrent_guesses_are_counted_before_any_is_verified(web: Web, counting: CountingVerify) -> None:
    web.user("ann@example.com")
    app = web.app(max_password_checks=40, password_check_wait_seconds=120)
    clients = [web.client(address="198.51.100.7", app=app) for _ in range(40)]
    tokens = [csrf_of(c.get("/login").text) for c in clients]
    start = threading.Barrier(len(clients))

    def guess(i: int) -> int:
        start.wait()
        form = {"email": "ann@example.com", "password": f"guess {i}", "csrf_token": tokens[i]}
        return int(clients[i].post("/login", data=form).status_code)

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = list(pool.map(guess, range(len(clients))))
    heard = statuses.count(200)
    assert heard == MAX_FAILURES_PER_ACCOUNT_AND_IP, statuses  # decided one at a time: the first five
    assert statuses.count(429) == len(clients) - heard
    assert counting.calls == heard  # the others never reached argon2


def test_the_gate_caps_concurrent_password_checks(web: Web, counting: CountingVerify) -> None:
    web.user("ann@example.com")
    # A generous wait: all 40 get their turn even on a loaded machine.
    app = web.app(max_password_checks=2, password_check_wait_seconds=300)
    # Distinct addresses, so that the limiter lets every one through to the gate.
    clients = [web.client(address=f"198.51.100.{i + 1}", app=app) for i in range(40)]
    tokens = [csrf_of(c.get("/login").text) for c in clients]
    start = threading.Barrier(len(clients))

    def sign_in(i: int) -> int:
        start.wait()
        form = {"email": "ann@example.com", "password": WEB_PASSWORD, "csrf_token": tokens[i]}
        return int(clients[i].post("/login", data=form).status_code)

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = list(pool.map(sign_in, range(len(clients))))
    assert statuses == [303] * len(clients)
    assert counting.calls == len(clients)
    assert counting.peak == 2


def test_a_full_gate_answers_503_and_the_attempt_is_not_a_failure(web: Web) -> None:
    web.user("ann@example.com")
    app = web.app(max_password_checks=1, password_check_wait_seconds=0)
    release, taken = threading.Event(), threading.Event()

    def occupy() -> None:
        taken.set()
        release.wait(60)

    holder = threading.Thread(target=app.state.password_gate.run, args=(occupy,))
    holder.start()
    try:
        taken.wait(10)
        busy = _login(web.client(app=app), "ann@example.com", web.password)
    finally:
        release.set()
        holder.join()
    assert busy.status_code == 503
    assert int(busy.headers["retry-after"]) >= 1
    assert "busy" in busy.text
    with web.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(attempts_table)).scalar_one() == 0
    assert _login(web.client(app=app), "ann@example.com", web.password).status_code == 303


def _recorded_ips(database_url: str) -> set[str]:
    db = Database(database_url)
    try:
        with db.read() as conn:
            return set(conn.execute(sa.select(attempts_table.c.ip)).scalars())
    finally:
        db.dispose()


@pytest.mark.parametrize(("trusted", "seen"), [("", "127.0.0.1"), ("127.0.0.1", "198.51.100.7")])
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    database_url: str, tmp_path: Path, trusted: str, seen: str
) -> None:
    hub = HubProcess(database_url, free_port(), tmp_path / "hub.log")
    hub.start(TALLYHUB_TRUSTED_PROXIES=trusted)
    try:
        with httpx.Client(base_url=hub.url, timeout=60) as client:
            response = _login(
                client, "nobody@example.com", "wrong password", **{"X-Forwarded-For": "198.51.100.7"}
            )
            assert response.status_code == 200
    finally:
        hub.stop()
    assert _recorded_ips(database_url) == {seen}


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    from tallyhub.settings import load_settings

    ok = load_settings(environ={"TALLYHUB_TRUSTED_PROXIES": " 10.0.0.0/8, ::1 "})
    assert ok.trusted_proxies == "10.0.0.0/8,::1"
    with pytest.raises(ValueError, match=r"TALLYHUB_TRUSTED_PROXIES='proxy\.local'.*not an IP address"):
        load_settings(environ={"TALLYHUB_TRUSTED_PROXIES": "proxy.local"})
