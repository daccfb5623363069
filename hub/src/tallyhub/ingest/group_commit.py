"""Group commit: jobs that arrive while one is being written are written together, by one thread, next.

One thread at a time leads: it takes its own job and those queued behind it (bounded in count and bytes),
runs them through `run`, and hands the lead to the oldest job still queued. Every other caller waits on
its own job until a leader has finished it, so `submit` returns only once the job's outcome is known
(for the batch writer: once its payload is committed, or has failed). Without concurrency a caller leads
a group of one at once, so the path costs a lock and an event more than calling `run` directly.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(eq=False)
class Job(Generic[T]):
    """One caller's item and, once `run` has set them, its outcome or error."""

    item: T
    size: int  # what it counts toward a group's byte bound
    outcome: bool = False
    error: BaseException | None = None
    lead: bool = False  # set (before `done`) when this job's caller is to lead the next group
    done: threading.Event = dataclasses.field(default_factory=threading.Event)


class GroupCommit(Generic[T]):
    """Runs submitted items in groups of at most `max_jobs` items and `max_bytes` (a larger item alone).

    `run` gets a group and must set each job's `outcome` or `error`; if it raises, its jobs get that error.
    """

    def __init__(self, run: Callable[[list[Job[T]]], None], max_jobs: int, max_bytes: int) -> None:
        self._run = run
        self.max_jobs = max_jobs
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._queue: deque[Job[T]] = deque()
        self._leading = False

    def submit(self, item: T, size: int) -> bool:
        """Run `item` in the next group; its outcome, or the exception `run` set for it."""
        job = Job(item, size)
        with self._lock:
            if self._leading:
                self._queue.append(job)
            else:
                self._leading = job.lead = True
        if not job.lead:
            job.done.wait()
        if job.lead:  # the lead was free, or a leader handed it to this job
            self._lead(job)
        if job.error is not None:
            raise job.error
        return job.outcome

    def _lead(self, first: Job[T]) -> None:
        group = [first]
        try:
            size = first.size
            with self._lock:
                queue = self._queue
                while queue and len(group) < self.max_jobs and size + queue[0].size <= self.max_bytes:
                    job = queue.popleft()
                    group.append(job)
                    size += job.size
            self._run(group)
        except BaseException as exc:  # `run` broke its contract: no job of the group may hang or pass
            for job in group:
                if job.error is None:
                    job.error = exc
            raise
        finally:
            for job in group[1:]:
                job.done.set()
            with self._lock:
                if self._queue:
                    following = self._queue.popleft()
                    following.lead = True
                    following.done.set()
                else:
                    self._leading = False
