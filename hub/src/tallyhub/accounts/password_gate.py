"""A per-process cap on concurrent password verifications, each of which holds argon2's memory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class GateBusy(Exception):
    """Every slot stayed taken for the whole wait; the caller should answer 503 with Retry-After."""


class PasswordGate:
    """Runs at most `slots` password checks at once; others wait up to `wait_seconds`, then GateBusy."""

    def __init__(self, slots: int, wait_seconds: float) -> None:
        if slots < 1:
            raise ValueError(f"max_password_checks must be at least 1, not {slots}")
        if wait_seconds < 0:
            raise ValueError(f"password_check_wait_seconds must not be negative, not {wait_seconds}")
        self.slots = slots
        self.wait_seconds = wait_seconds
        self._semaphore = threading.BoundedSemaphore(slots)

    def run(self, check: Callable[[], T]) -> T:
        """The result of `check()`, run once a slot is free."""
        if not self._semaphore.acquire(timeout=self.wait_seconds):
            raise GateBusy()
        try:
            return check()
        finally:
            self._semaphore.release()
