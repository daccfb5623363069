"""The OTLP counting rule: per instance, the first signal that brought its requests is the one that counts.

An app that exports only traces is counted from its SERVER spans; one that exports traces and metrics
would count each request twice if both counted, so the first signal seen for an instance keeps counting
it and the other is ignored for counts (docs/otlp-mapping.md). The claim is a row inserted in the
batch's transaction: two exports racing for a new instance agree on the one that committed first.
Its `last_seen` is moved at most every TOUCH_SECONDS, so that retention (ingest/retention.py) deletes
the claims of instances gone silent without a write on every export.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from tallyhub.storage.tables import request_sources
from tallyhub.storage.upsert import insert_ignore

TOUCH_SECONDS = 3600.0


def claim(
    conn: sa.Connection, env_id: int, offered: Collection[tuple[str, str]], now: float
) -> dict[str, str]:
    """The counting source of each instance named in `offered` ((instance, source) pairs), claimed if new."""
    if not offered:
        return {}
    instances = {instance for instance, _ in offered}
    stored = _stored(conn, env_id, instances)
    counting = {instance: source for instance, (source, _) in stored.items()}
    stale = sorted(i for i, (_, last_seen) in stored.items() if last_seen < now - TOUCH_SECONDS)
    if stale:
        conn.execute(
            request_sources.update()
            .where(request_sources.c.env_id == env_id, request_sources.c.instance.in_(stale))
            .values(last_seen=now)
        )
    # Of two sources offered for a new instance in one batch, metrics win: they are never sampled.
    new: dict[str, str] = {}
    for instance, source in sorted(offered, key=lambda pair: pair[1] != "metrics"):
        if instance not in counting:
            new.setdefault(instance, source)
    if new:
        rows = [
            {"env_id": env_id, "instance": i, "source": s, "first_seen": now, "last_seen": now}
            for i, s in new.items()
        ]
        insert_ignore(conn, request_sources, rows, ["env_id", "instance"])
        counting.update((i, source) for i, (source, _) in _stored(conn, env_id, set(new)).items())
    return counting


def _stored(conn: sa.Connection, env_id: int, instances: Collection[str]) -> dict[str, tuple[str, float]]:
    c = request_sources.c
    query = sa.select(c.instance, c.source, c.last_seen).where(c.env_id == env_id, c.instance.in_(instances))
    return {row.instance: (row.source, row.last_seen) for row in conn.execute(query)}
