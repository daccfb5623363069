"""Retention of what ingestion stores beside metrics: errors, request logs and their trace items, receipts.

Idempotency keys are kept for RECEIVED_KEEP_SECONDS: clients retry a payload for up to an hour
(PROTOCOL.md §1A).
"""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.settings import Settings
from tallyhub.storage.bulk import delete_batched
from tallyhub.storage.database import Database
from tallyhub.storage.tables import (
    DAY,
    error_counts,
    error_groups,
    received_messages,
    request_logs,
    trace_items,
)

RECEIVED_KEEP_SECONDS = 2 * 3600


def run(db: Database, settings: Settings, now: float) -> int:
    """Delete errors, request logs and idempotency keys past their retention; returns how many."""
    errors_cutoff = now - settings.retention_errors_days * DAY
    deleted = delete_batched(db, error_counts, error_counts.c.bucket < errors_cutoff)
    # A group with no count left and not seen since the cutoff describes nothing in range any more.
    deleted += delete_batched(
        db,
        error_groups,
        sa.and_(
            error_groups.c.last_seen < errors_cutoff,
            ~sa.exists().where(error_counts.c.group_id == error_groups.c.id),
        ),
    )
    logs_cutoff = now - settings.retention_request_logs_days * DAY
    deleted += delete_batched(db, request_logs, request_logs.c.timestamp < logs_cutoff)
    deleted += delete_batched(db, trace_items, trace_items.c.timestamp < logs_cutoff)
    with db.write() as conn:
        result = conn.execute(
            received_messages.delete().where(received_messages.c.received_at < now - RECEIVED_KEEP_SECONDS)
        )
        deleted += result.rowcount
    return deleted
