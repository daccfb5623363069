"""Retention of metric rows: each granularity is kept for its setting, in bounded batches.

On PostgreSQL the slices of `metrics` wholly past retention are dropped (storage/partitions.py), and
rows of a slice partly past it deleted. Minute rows are only deleted once rolled (their requests live
on in hour and day rows); per-consumer hours (metrics.consumer_hours) are kept as long as hour rows;
instances' resources (metrics.resources) like the metric rows of their granularity.
"""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.metrics import consumer_hours, resources
from tallyhub.settings import Settings
from tallyhub.storage import partitions
from tallyhub.storage.bulk import delete_batched
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, UNROLLED_MINUTES, metrics


def run(db: Database, settings: Settings, now: float) -> int:
    """Delete the metric rows past their retention; returns how many were deleted."""
    deleted = 0
    for granularity, keep_days in (
        (MINUTE, settings.retention_minute_days),
        (HOUR, settings.retention_hour_days),
        (DAY, settings.retention_day_days),
    ):
        cutoff = now - keep_days * DAY
        # On PostgreSQL whole slices past the cutoff go first; the row delete takes what is left.
        deleted += partitions.drop_past(db, partitions.METRIC_SLICES[granularity], cutoff)
        condition = sa.and_(metrics.c.granularity == granularity, metrics.c.bucket < cutoff)
        if granularity == MINUTE:
            condition = sa.and_(condition, sa.text(f"NOT {UNROLLED_MINUTES}"))
        deleted += delete_batched(db, metrics, condition)
    # Per-consumer hours go with the hour rows: a range reaching before them is then read from day rows.
    deleted += consumer_hours.apply_retention(db, now - settings.retention_hour_days * DAY)
    deleted += resources.apply_retention(db, settings, now)
    return deleted
