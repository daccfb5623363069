"""The OTLP counting rule: per instance, the first signal that brought its requests is the one that counts.

An app that exports only traces is counted from its SERVER spans; one that exports traces and metrics
would count each request twice if both counted, so the first signal seen for an instance keeps counting
it and the other is ignored for counts (docs/otlp-mapping.md). The claim is a row inserted in the
batch's transaction: two exports racing for a new instance agree on the one that committed first.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from tallyhub.storage.tables import request_sources
from tallyhub.storage.upsert import insert_ignore


def claim(
    conn: sa.Connection, env_id: int, offered: Collection[tuple[str, str]], now: float
) -> dict[str, str]:
    """The counting source of each instance named in `offered` ((instance, source) pairs), claimed if new."""
    if not offered:
        return {}
    instances = {instance for instance, _ in offered}
    counting = _stored(conn, env_id, instances)
    # Of two sources offered for a new instance in one batch, metrics win: they are never sampled.
    new: dict[str, str] = {}
    for instance, source in sorted(offered, key=lambda pair: pair[1] != "metrics"):
        if instance not in counting:
            new.setdefault(instance, source)
    if new:
        rows = [{"env_id": env_id, "instance": i, "source": s, "first_seen": now} for i, s in new.items()]
        insert_ignore(conn, request_sources, rows, ["env_id", "instance"])
        counting.update(_stored(conn, env_id, set(new)))
    return counting


def _stored(conn: sa.Connection, env_id: int, instances: Collection[str]) -> dict[str, str]:
    query = sa.select(request_sources.c.instance, request_sources.c.source).where(
        request_sources.c.env_id == env_id, request_sources.c.instance.in_(instances)
    )
    return {row.instance: row.source for row in conn.execute(query)}
