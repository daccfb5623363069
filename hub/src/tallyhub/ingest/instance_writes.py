"""The instance writes of one write transaction's batches, made together at its end.

Every sync and OTLP export upserts its instance row (a heartbeat), appends a CPU and memory sample and
(OTLP) describes its instance: statements of their own per batch, each a round trip to PostgreSQL that
the whole group commit waits for. Collected here, they are written once per transaction: one upsert per
row shape (psycopg sends an executemany's statements in one pipeline), one append of the samples, one
update per description shape. Rows go in key order, and last, so that concurrent transactions lock the
shared instance rows in one order and hold them only until the commit that follows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.metrics import resources
from tallyhub.metrics.resources import Sample
from tallyhub.storage import dimensions

InstanceKey = tuple[int, str]  # env_id, instance_uuid
Described = tuple[str | None, dict[str, Any] | None]  # client, versions


class InstanceWrites:
    """Instance upserts, samples and descriptions of a transaction's batches, in the order they came."""

    def __init__(self) -> None:
        self._upserts: dict[InstanceKey, dict[str, Any]] = {}
        self._samples: dict[int, list[Sample]] = {}
        self._described: dict[InstanceKey, Described] = {}

    def upsert(self, env_id: int, instance_uuid: str, columns: dict[str, Any]) -> None:
        """As dimensions.upsert_instance: None keeps what is stored, first_seen is the first one's."""
        key = (env_id, instance_uuid)
        earlier = self._upserts.get(key)
        if earlier is None:
            self._upserts[key] = dict(columns)
            return
        # What two upserts in a row leave: a later value wins unless it is None (which keeps the earlier).
        for name, value in columns.items():
            if name != "first_seen" and (value is not None or name not in earlier):
                earlier[name] = value

    def sample(self, env_id: int, samples: list[Sample]) -> None:
        if samples:
            self._samples.setdefault(env_id, []).extend(samples)

    def describe(
        self, env_id: int, instance_uuid: str, client: str | None, versions: dict[str, Any] | None
    ) -> None:
        """As dimensions.describe_instance; a later description's values win, None keeps the earlier."""
        key = (env_id, instance_uuid)
        old_client, old_versions = self._described.get(key, (None, None))
        self._described[key] = (client or old_client, versions or old_versions)

    def write(self, conn: sa.Connection) -> None:
        """Write what was collected (upserts, then samples, then descriptions) and forget it."""
        upserts, self._upserts = self._upserts, {}
        samples, self._samples = self._samples, {}
        described, self._described = self._described, {}
        by_shape: dict[tuple[str, ...], list[tuple[InstanceKey, dict[str, Any]]]] = {}
        for key, columns in sorted(upserts.items()):
            by_shape.setdefault(tuple(columns), []).append((key, columns))
        for rows in by_shape.values():
            dimensions.upsert_instances(conn, rows)
        for env_id, of_env in samples.items():
            resources.record(conn, env_id, of_env)
        if described:
            dimensions.describe_instances(conn, sorted(described.items()))
