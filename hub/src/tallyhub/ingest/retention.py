"""Retention of what ingestion stores beside metrics: errors, request logs and their trace items, receipts.

On PostgreSQL request logs, app-log records and span records are cut in day slices, and the slices
wholly past retention are dropped (storage/partitions.py).

Idempotency keys are kept for RECEIVED_KEEP_SECONDS: clients retry a payload for up to an hour
(PROTOCOL.md §1A). OTLP's bookkeeping goes once its sender has been silent for OTLP_STATE_KEEP_SECONDS:
a cumulative stream's stored totals (a live SDK re-exports each stream every interval, so its row is
updated every minute or so) and an instance's counting-source claim (touched hourly while it sends).
An instance back after longer counts as new: its cumulative points count from their start again.
"""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.settings import Settings
from tallyhub.storage import partitions, span_hours
from tallyhub.storage.bulk import delete_batched
from tallyhub.storage.database import Database
from tallyhub.storage.tables import (
    DAY,
    app_log_records,
    error_counts,
    error_groups,
    metric_streams,
    received_messages,
    request_logs,
    request_sources,
    span_records,
    trace_items,
)

RECEIVED_KEEP_SECONDS = 2 * 3600
OTLP_STATE_KEEP_SECONDS = 7 * DAY


def run(db: Database, settings: Settings, now: float) -> int:
    """Delete errors, request logs, idempotency keys and stale OTLP bookkeeping; returns how many."""
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
    # Spans and their hourly counts before the same hour boundary: each hour counted is then all there.
    spans_cutoff = span_hours.retention_cutoff(logs_cutoff)
    for table, cutoff in (
        (request_logs, logs_cutoff),
        (app_log_records, logs_cutoff),
        (span_records, spans_cutoff),
    ):
        # On PostgreSQL the day slices wholly past the cutoff are dropped; the row delete takes the rest.
        deleted += partitions.drop_past(db, partitions.LOG_SLICES[table.name], cutoff)
        deleted += delete_batched(db, table, table.c.timestamp < cutoff)
    deleted += delete_batched(db, trace_items, trace_items.c.timestamp < logs_cutoff)
    deleted += span_hours.delete_before(db, spans_cutoff)
    state_cutoff = now - OTLP_STATE_KEEP_SECONDS
    deleted += delete_batched(db, metric_streams, metric_streams.c.updated_at < state_cutoff)
    with db.write() as conn:
        # One row per instance ever seen (no id column for batches): few enough to delete at once.
        result = conn.execute(request_sources.delete().where(request_sources.c.last_seen < state_cutoff))
        deleted += result.rowcount
        result = conn.execute(
            received_messages.delete().where(received_messages.c.received_at < now - RECEIVED_KEEP_SECONDS)
        )
        deleted += result.rowcount
    return deleted
