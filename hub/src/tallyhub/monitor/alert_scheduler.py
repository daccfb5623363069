"""The alerts thread: every few seconds, check due rules and deliver due notifications.

It runs in every hub process; the claims in alert_job and delivery make each check and each
delivery attempt happen once across processes. Sending happens here, never on a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tallyhub.monitor import alert_job, delivery
from tallyhub.settings import Settings
from tallyhub.storage.database import Database

log = logging.getLogger(__name__)


class AlertScheduler:
    """`run_once` checks rules and delivers notifications as of `clock()`; `start` runs it on a thread."""

    def __init__(self, db: Database, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tallyhub-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run_once(self) -> None:
        try:
            alert_job.run(self.db, self.settings, self.clock())
        except Exception:  # e.g. the database is briefly unreachable: try again at the next tick
            log.exception("checking alert rules failed")
        try:
            delivery.run(self.db, self.clock())
        except Exception:
            log.exception("delivering notifications failed")

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.alerts_tick_seconds):
            self.run_once()
