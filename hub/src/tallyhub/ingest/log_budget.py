"""The request-log budget: how many bytes of request logs an app may store per window (an hour by default).

Past it, /log answers 402 with Retry-After (the seconds left in the window): the official clients then
suspend request logging for that long and drop what they buffered (PROTOCOL.md §1A), while metrics go on.
The bytes are those of the file's lines as inflated; a file is refused whole when it would take the app
past the budget. The counter is charged in the file's own transaction, so a refused file costs nothing.
"""

from __future__ import annotations

import dataclasses
import math

import sqlalchemy as sa

from tallyhub.storage.tables import log_budgets
from tallyhub.storage.upsert import insert_for


class OverBudget(Exception):
    """The app has used its request-log budget; try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"request-log budget used up; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True)
class LogBudget:
    """At most `max_bytes` of request logs per app per fixed window of `seconds`; 0 bytes: no budget."""

    max_bytes: int
    seconds: int

    def window_start(self, now: float) -> float:
        return float(math.floor(now / self.seconds) * self.seconds)

    def exceeded(self, now: float) -> OverBudget:
        """The refusal at `now`: retry when the window ends (at least 1 s, as Node needs > 0)."""
        return OverBudget(max(1, math.ceil(self.window_start(now) + self.seconds - now)))

    def allowance(self, conn: sa.Connection, app_id: int, now: float) -> int | None:
        """Bytes the app may still store in this window (None: unlimited); OverBudget when none."""
        if not self.max_bytes:
            return None
        row = conn.execute(
            sa.select(log_budgets.c.window_start, log_budgets.c.bytes).where(log_budgets.c.app_id == app_id)
        ).first()
        used = row.bytes if row is not None and row.window_start == self.window_start(now) else 0
        if used >= self.max_bytes:
            raise self.exceeded(now)
        return int(self.max_bytes - used)

    def charge(self, conn: sa.Connection, app_id: int, size: int, now: float) -> None:
        """Add `size` bytes to the app's window; OverBudget (the caller rolls back) when past the budget.

        The increment is one atomic upsert: concurrent files of one app (several hub processes) are
        serialised on the row and each sees the other's bytes.
        """
        if not self.max_bytes:
            return
        start = self.window_start(now)
        stmt = insert_for(conn, log_budgets).values(app_id=app_id, window_start=start, bytes=size)
        same_window = log_budgets.c.window_start == stmt.excluded.window_start
        stmt = stmt.on_conflict_do_update(
            index_elements=["app_id"],
            set_={
                "bytes": sa.case(
                    (same_window, log_budgets.c.bytes + stmt.excluded.bytes), else_=stmt.excluded.bytes
                ),
                "window_start": stmt.excluded.window_start,
            },
        ).returning(log_budgets.c.bytes)
        if conn.execute(stmt).scalar_one() > self.max_bytes:
            raise self.exceeded(now)
