"""Retention of uptime history: health-check results and ended incidents past `retention_uptime_days`."""

from __future__ import annotations

from tallyhub.settings import Settings
from tallyhub.storage.bulk import delete_batched
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, health_check_results, incidents


def run(db: Database, settings: Settings, now: float) -> int:
    """Delete old check results and incidents (open ones stay); returns how many rows were deleted."""
    cutoff = now - settings.retention_uptime_days * DAY
    deleted = delete_batched(db, health_check_results, health_check_results.c.checked_at < cutoff)
    return deleted + delete_batched(db, incidents, incidents.c.ended_at < cutoff)
