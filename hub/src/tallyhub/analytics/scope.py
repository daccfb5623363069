"""What a data request reads: one app's parsed query with its filters resolved, on an open connection."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import sqlalchemy as sa

from tallyhub.analytics.query import Query, align
from tallyhub.analytics.selection import resolve
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.storage.database import Database


@dataclasses.dataclass(frozen=True)
class Scope:
    """One app's query and its resolved filters, on an open read connection."""

    conn: sa.Connection
    app_id: int
    query: Query
    resolved: Selection
    # The request's parameters as given, for what only some pages read (a list's limit, offset, sort, dir).
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    @contextmanager
    def open(
        cls, db: Database, app_id: int, query: Query, params: Mapping[str, str] | None = None
    ) -> Iterator[Scope]:
        with db.read() as conn:
            yield cls(conn, app_id, query, resolve(conn, app_id, query.filters), params or {})

    @property
    def tr(self) -> TimeRange:
        """The query's range in whole buckets: the series' range."""
        return self.query.range

    @property
    def apdex_t(self) -> int:
        """The T of endpoints without their own: the request's, else the app's, else the hub's setting."""
        app_t = self.resolved.rules.app_apdex_t
        return self.query.apdex_t if self.query.apdex_t_given or app_t is None else app_t

    @property
    def minute_range(self) -> tuple[int, int]:
        """The exact range widened to whole minutes (error counts are per minute)."""
        minutes = align(self.query.start, self.query.end, "minute")
        return minutes.start, minutes.end

    @property
    def minutes(self) -> float:
        return max((self.query.end - self.query.start) / 60, 1 / 60)
