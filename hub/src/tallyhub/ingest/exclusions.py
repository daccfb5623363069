"""Leaving out what a batch holds of excluded endpoints: their requests, errors, request logs and traces.

An endpoint excluded in its settings (health checks, metrics scrapes) keeps its row and its page; from
the moment it is excluded its traffic is no longer stored. Cumulative OTLP points still move their
streams' totals (so that un-excluding does not count the excluded time at once); their deltas are
filtered instead (`kept`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol, TypeVar

from tallyhub.ingest.batch import Batch, SourcedRequests
from tallyhub.storage.dimensions import NaturalEndpoint, natural_endpoint


class _Routed(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str | None: ...


R = TypeVar("R", bound=_Routed)


def kept(entries: Iterable[R], excluded: frozenset[NaturalEndpoint]) -> list[R]:
    """The entries not of an excluded endpoint (entries without a route are kept)."""
    if not excluded:
        return list(entries)
    return [e for e in entries if not e.path or natural_endpoint(e.method, e.path) not in excluded]


def without_excluded(batch: Batch, excluded: frozenset[NaturalEndpoint]) -> Batch:
    """The batch without the requests, errors, request logs and traces of excluded endpoints."""
    if not excluded:
        return batch
    request_logs = kept(batch.request_logs, excluded)
    # Their traces go with them: the child spans and logs that came beside the SERVER span (a part of a
    # trace sent in another export is stored, and never shown without its request log).
    dropped = {log.trace_id for log in batch.request_logs if log.trace_id} - {
        log.trace_id for log in request_logs
    }
    return dataclasses.replace(
        batch,
        requests=kept(batch.requests, excluded),
        server_errors=kept(batch.server_errors, excluded),
        validation_errors=kept(batch.validation_errors, excluded),
        request_logs=request_logs,
        trace_items=[item for item in batch.trace_items if item.trace_id not in dropped],
        sourced_requests=[
            SourcedRequests(s.instance, s.source, kept(s.requests, excluded), s.cumulative)
            for s in batch.sourced_requests
        ],
    )
