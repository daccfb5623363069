"""A lock that goes to its waiters in the order they came (first in, first out).

`threading.Lock` is not fair: a thread that releases it and asks again at once (request-log retention
deleting batch after batch) usually gets it back before a waiting thread has even woken, so an
ingestion that waited behind one batch can wait behind several (a store held up 1.4 s at 5,000,000
logs on SQLite while each batch took ~0.25 s). Here a release hands the lock to the oldest waiter
directly, so a writer waits for at most the transactions that were already queued when it came.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FairLock:
    """A non-reentrant mutex whose waiters get it in arrival order; usable in `with`."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        try:
            turn.acquire()  # released by the holder's release(): the lock is this thread's now
        except BaseException:  # interrupted while waiting (KeyboardInterrupt): leave the queue
            with self._guard:
                if turn in self._waiters:
                    self._waiters.remove(turn)
                    raise
            self.release()  # it was handed over meanwhile: pass it on
            raise

    def release(self) -> None:
        with self._guard:
            if not self._held:
                raise RuntimeError("release of an unheld FairLock")
            if self._waiters:
                self._waiters.popleft().release()  # held passes straight on
            else:
                self._held = False

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
