"""The alerts thread: every few seconds, check due rules and deliver due notifications.

It runs in every hub process; the claims in alert_job and delivery make each check and each
delivery attempt happen once across processes. Sending happens here (with a pool: in the pool, so rule
checks never wait on a send), never on a request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tallyhub.alerts import delivery
from tallyhub.alerts import rule_checks as alert_job
from tallyhub.jobs.ticker import Ticker
from tallyhub.outbound.policy import Policy
from tallyhub.outbound.pool import TeamPool
from tallyhub.settings import Settings
from tallyhub.storage.database import Database

log = logging.getLogger(__name__)


class AlertScheduler(Ticker):
    """`run_once` checks rules and delivers notifications as of `clock()`; `start` runs it on a thread."""

    thread_name = "tallyhub-alerts"

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        pool: TeamPool | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.clock = clock
        self.policy = Policy.from_settings(settings)
        self.pool = pool  # None: deliveries are made in run_once, one after another

    def run_once(self) -> None:
        try:
            alert_job.run(self.db, self.settings, self.clock())
        except Exception:  # e.g. the database is briefly unreachable: try again at the next tick
            log.exception("checking alert rules failed")
        try:
            if self.pool is not None:
                delivery.dispatch(self.db, self.clock(), self.pool, self.policy)
            else:
                delivery.run(self.db, self.clock(), self.policy)
        except Exception:
            log.exception("delivering notifications failed")

    def interval(self) -> float:
        return self.settings.alerts_tick_seconds
