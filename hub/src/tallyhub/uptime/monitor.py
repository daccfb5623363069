"""The uptime monitor: a background thread that, every `uptime_tick_seconds`, evaluates heartbeats and
runs the due health checks.

It has its own tick because checks are due every minute or so, while maintenance runs less often. A
tick is cheap when nothing is due: one lease write and two small reads. With a pool (the hub's), a tick
only hands the due checks to it: heartbeat evaluation never waits on a check.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

from tallyhub.jobs import leases
from tallyhub.jobs.ticker import Ticker
from tallyhub.outbound.policy import Policy
from tallyhub.outbound.pool import TeamPool
from tallyhub.settings import Settings
from tallyhub.storage.database import Database
from tallyhub.uptime import check_runner as health_checks
from tallyhub.uptime import heartbeats

log = logging.getLogger(__name__)


class UptimeMonitor(Ticker):
    """`run_once` is the unit tests drive directly, with their own clock; without a pool, a tick runs the
    due checks itself and returns when they are done."""

    thread_name = "tallyhub-uptime"

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        retry_delay: float = health_checks.RETRY_DELAY_SECONDS,
        pool: TeamPool | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.policy = Policy.from_settings(settings)
        self.pool = pool
        self.clock = clock
        self.retry_delay = retry_delay
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    def run_once(self) -> int:
        """Evaluate heartbeats (if this process holds their lease) and run due checks; returns checks run."""
        now = self.clock()
        # Heartbeat evaluation is idempotent; the lease only spares the other processes the work.
        ttl = self.settings.uptime_tick_seconds * 3
        if leases.acquire(self.db, "uptime:heartbeats", self.holder, ttl=ttl, now=now):
            try:
                heartbeats.run(self.db, self.settings, now)
            except Exception:  # evaluated again at the next tick
                log.exception("heartbeat evaluation failed")
        try:
            if self.pool is not None:
                return health_checks.dispatch_due(
                    self.db, self.clock(), self.pool, self.policy, self.retry_delay
                )
            return health_checks.run_due(self.db, self.clock(), self.policy, self.retry_delay)
        except Exception:
            log.exception("health checks failed")
            return 0

    def interval(self) -> float:
        return self.settings.uptime_tick_seconds
