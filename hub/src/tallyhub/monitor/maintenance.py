"""A background thread that runs the periodic jobs, once across all hub processes (a database lease)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from tallyhub.settings import Settings
from tallyhub.storage import leases, retention, rollup
from tallyhub.storage.database import Database

log = logging.getLogger(__name__)

Job = Callable[[Database, Settings, float], object]
JOBS: tuple[tuple[str, Job], ...] = (
    ("rollup", rollup.run),
    ("retention", retention.run),
)


class Maintenance:
    """Runs JOBS every `maintenance_interval_seconds`; `run_once` is the unit tests drive directly."""

    def __init__(self, db: Database, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tallyhub-maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

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

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.maintenance_interval_seconds):
            self.run_once()
