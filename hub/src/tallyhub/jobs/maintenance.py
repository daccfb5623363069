"""A background thread that runs the periodic jobs, once across all hub processes (a database lease)."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence

from tallyhub.jobs import leases
from tallyhub.jobs.ticker import Ticker
from tallyhub.settings import Settings
from tallyhub.storage.database import Database

log = logging.getLogger(__name__)

Job = Callable[[Database, Settings, float], object]
Jobs = Sequence[tuple[str, Job]]  # (name of its lease, job), in the order they run


class Maintenance(Ticker):
    """Runs its jobs every `maintenance_interval_seconds`; `run_once` is the unit tests drive directly.

    The jobs come from the application factory (tallyhub.app), which knows every package's.
    """

    thread_name = "tallyhub-maintenance"

    def __init__(
        self, db: Database, settings: Settings, jobs: Jobs, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.db = db
        self.jobs = jobs
        self.settings = settings
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    def run_once(self) -> None:
        """Run every job whose lease this process gets."""
        interval = self.settings.maintenance_interval_seconds
        for name, job in self.jobs:
            now = self.clock()
            if not leases.acquire(self.db, f"maintenance:{name}", self.holder, ttl=interval * 2, now=now):
                continue
            try:
                job(self.db, self.settings, now)
            except Exception:  # a failed run is retried at the next interval
                log.exception("maintenance job %s failed", name)

    def interval(self) -> float:
        return self.settings.maintenance_interval_seconds
