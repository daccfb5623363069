"""The password-check gate: a bounded number of checks at once, a bounded wait, loud bad settings."""

from __future__ import annotations

import threading

import pytest
from tallyhub.accounts.password_gate import GateBusy, PasswordGate


def test_a_check_waits_for_a_slot_then_gives_up() -> None:
    gate = PasswordGate(1, 0.05)
    release, taken = threading.Event(), threading.Event()

    def occupy() -> str:
        taken.set()
        release.wait(30)
        return "first"

    holder = threading.Thread(target=gate.run, args=(occupy,))
    holder.start()
    taken.wait(10)
    with pytest.raises(GateBusy):
        gate.run(lambda: "second")
    release.set()
    holder.join()
    assert gate.run(lambda: "third") == "third"  # the slot came back


def test_a_failing_check_gives_its_slot_back() -> None:
    gate = PasswordGate(1, 0)

    def boom() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        gate.run(boom)
    assert gate.run(lambda: 1) == 1


@pytest.mark.parametrize(("slots", "wait"), [(0, 1.0), (1, -1.0)])
def test_bad_settings_are_refused(slots: int, wait: float) -> None:
    with pytest.raises(ValueError, match=r"max_password_checks|password_check_wait_seconds"):
        PasswordGate(slots, wait)
