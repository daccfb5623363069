"""A background thread that runs the periodic jobs, once across all hub processes (a database lease)."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

from tallyhub.monitor.ticker import Ticker
from tallyhub.settings import Settings
from tallyhub.storage import leases, retention, rollup
from tallyhub.storage.database import Database

log = logging.getLogger(__name__)

Job = Callable[[Database, Settings, float], object]
JOBS: tuple[tuple[str, Job], ...] = (
    ("rollup", rollup.run),
    ("retention", retention.run),
)


class Maintenance(Ticker):
    """Runs JOBS every `maintenance_interval_seconds`; `run_once` is the unit tests drive directly."""

    thread_name = "tallyhub-maintenance"

    def __init__(self, db: Database, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    def run_once(self) -> None:
        """Run every job whose lease this process gets."""
        interval = self.settings.maintenance_interval_seconds
        for name, job in JOBS:
            now = self.clock()
            if not leases.acquire(self.db, f"maintenance:{name}", self.holder, ttl=interval * 2, now=now):
                continue
            try:
                job(self.db, self.settings, now)
            except Exception:  # a failed run is retried at the next interval
                log.exception("maintenance job %s failed", name)

    def interval(self) -> float:
        return self.settings.maintenance_interval_seconds
