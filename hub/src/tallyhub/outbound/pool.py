"""A bounded pool of worker threads in which one team can hold at most its share of the workers.

Health checks and notification deliveries run here, so that a team whose targets hang fills its own
share and waits, while the other teams' work finds free workers at once. Jobs carry a key (a check,
a notification): a key already queued or running is not taken twice.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any


class TeamPool:
    """`workers` threads (started on first use); a team runs at most `team_cap` jobs at once, others queue."""

    def __init__(self, name: str, workers: int, team_share: float) -> None:
        if workers < 1:
            raise ValueError(f"{name}: a pool needs at least one worker, not {workers}")
        if not 0 < team_share <= 1:
            raise ValueError(f"{name}: a team's share must be in (0, 1], not {team_share}")
        self.name = name
        self.workers = workers
        self.team_cap = max(1, int(workers * team_share))
        self._cond = threading.Condition()
        self._queues: collections.OrderedDict[int, collections.deque[tuple[Any, Callable[[], Any], Any]]]
        self._queues = collections.OrderedDict()
        self._running: collections.Counter[int] = collections.Counter()
        self._keys: set[Any] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def busy(self, key: Any) -> bool:
        """The job `key` is queued or running."""
        with self._cond:
            return key in self._keys

    def submit(self, team_id: int, key: Any, job: Callable[[], Any]) -> concurrent.futures.Future[Any] | None:
        """Queue `job` for `team_id`; its future, or None when `key` is already queued or running."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._cond:
            if self._stopping:
                raise RuntimeError(f"the {self.name} pool is shut down")
            if key in self._keys:
                return None
            self._keys.add(key)
            self._queues.setdefault(team_id, collections.deque()).append((key, job, future))
            if not self._threads:
                self._start()
            self._cond.notify()
        return future

    def pending(self) -> int:
        """Jobs queued or running."""
        with self._cond:
            return len(self._keys)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or running (tests and benchmarks); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._keys, timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop taking jobs; queued ones are cancelled, running ones finish in their (daemon) threads."""
        with self._cond:
            self._stopping = True
            for queue in self._queues.values():
                for key, _job, future in queue:
                    future.cancel()
                    self._keys.discard(key)
            self._queues.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout  # one wait for all: a hanging job must not multiply it
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _start(self) -> None:
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"tallyhub-{self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _take(self) -> tuple[int, Any, Callable[[], Any], Any] | None:
        # Round robin over teams with room in their share: the team served goes to the back.
        for team_id, queue in self._queues.items():
            if self._running[team_id] < self.team_cap:
                key, job, future = queue.popleft()
                if queue:
                    self._queues.move_to_end(team_id)
                else:
                    del self._queues[team_id]
                self._running[team_id] += 1
                return team_id, key, job, future
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                taken = self._take()
                while taken is None:
                    if self._stopping:
                        return
                    self._cond.wait()
                    taken = self._take()
            team_id, key, job, future = taken
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as exc:  # the job's own failure belongs to its future
                    future.set_exception(exc)
            with self._cond:
                self._running[team_id] -= 1
                self._keys.discard(key)
                self._cond.notify_all()
