"""The apps overview's figures: requests, error rate, p95 and a sparkline per app, from tallyhub.analytics."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tallyhub.analytics import traffic
from tallyhub.storage.app_admin import TeamApp
from tallyhub.storage.database import Database
from tallyhub.web.filters import Filters
from tallyhub.web.pagedata import Scope

# Apdex is not shown on the overview; any threshold gives the same requests, error rate and p95.
_APDEX_T = 500


@dataclasses.dataclass(frozen=True)
class OverviewStats:
    requests: int
    error_rate: float  # 0..1
    p95_ms: float | None
    sparkline: Sequence[int]  # requests per bucket over the range, oldest first


def overview_stats(
    db: Database, apps: Sequence[TeamApp], filters: Filters, now: float
) -> dict[int, OverviewStats]:
    """Stats per app id over the filters (each app resolves env, consumer, endpoint… on its own)."""
    result = {}
    for app in apps:
        with Scope.open(db, app.id, filters, now, _APDEX_T) as scope:
            found = traffic.traffic(scope.conn, scope.resolved, scope.tr, _APDEX_T)
        totals = found["totals"]
        result[app.id] = OverviewStats(
            requests=totals["requests"],
            error_rate=totals["error_rate"],
            p95_ms=totals["p95"],
            sparkline=[point["requests"] for point in found["series"]],
        )
    return result
