"""storage.fair_lock.FairLock: waiters get the lock in the order they came, also ahead of a holder that
releases it and asks again at once (as retention's batches do); SQLite's write lock is one."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from tallyhub.storage.fair_lock import FairLock


def _until(check: Any) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_waiter_goes_before_the_holder_asking_again() -> None:
    lock, order = FairLock(), []

    def waiter() -> None:
        with lock:
            order.append("waiter")

    lock.acquire()
    thread = threading.Thread(target=waiter)
    thread.start()
    _until(lambda: len(lock._waiters) == 1)
    for _ in range(20):  # what retention's loop does: release, and at once acquire again
        lock.release()
        lock.acquire()
        order.append("holder")
    lock.release()
    thread.join()
    assert order[0] == "waiter"


def test_waiters_get_the_lock_in_arrival_order() -> None:
    lock, order = FairLock(), []

    def waiter(n: int) -> None:
        with lock:
            order.append(n)

    lock.acquire()
    threads = []
    for n in range(5):
        threads.append(threading.Thread(target=waiter, args=(n,)))
        threads[-1].start()
        _until(lambda n=n: len(lock._waiters) == n + 1)
    lock.release()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4]


def test_an_unheld_lock_cannot_be_released() -> None:
    with pytest.raises(RuntimeError):
        FairLock().release()


def test_the_sqlite_write_lock_is_fair(db: Any) -> None:
    if not db.is_sqlite:  # PostgreSQL's writers need no lock of the hub's
        return
    assert isinstance(db._write_lock, FairLock)
