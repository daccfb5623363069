"""Numbers that come from tallyhub.analytics, which this branch does not have yet.

SLOT(analytics): after merging the `api` branch, fill `overview_stats` from tallyhub.analytics
(requests, error rate, p95 and a sparkline series per app over `filters`); the apps overview template
(`apps.html`, block marked SLOT) already renders an `OverviewStats` when one is returned for an app.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tallyhub.storage.app_admin import TeamApp
from tallyhub.storage.database import Database
from tallyhub.web.filters import Filters


@dataclasses.dataclass(frozen=True)
class OverviewStats:
    requests: int
    error_rate: float  # 0..1
    p95_ms: float | None
    sparkline: Sequence[int]  # requests per bucket over the range, oldest first


def overview_stats(
    db: Database, apps: Sequence[TeamApp], filters: Filters, now: float
) -> dict[int, OverviewStats]:
    """Stats per app id for the overview; empty until tallyhub.analytics is merged (no fake numbers)."""
    return {}
