"""Server and validation errors: one group per distinct error and endpoint, with per-minute counts."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Sequence

import orjson
import sqlalchemy as sa

from tallyhub.storage import bulk
from tallyhub.storage.dimensions import ErrorGroupKey, Pending
from tallyhub.storage.tables import error_counts, error_groups
from tallyhub.storage.upsert import insert_ignore

SERVER, VALIDATION = "server", "validation"
# A group's last_seen is rewritten at most this often per process (like a consumer's).
SEEN_RESOLUTION = 60.0


@dataclasses.dataclass(frozen=True)
class ErrorFields:
    """An error's own fields: type, message, and traceback (server) or loc (validation)."""

    type: str
    msg: str
    traceback: str | None
    loc: tuple[str, ...] | None


@dataclasses.dataclass(frozen=True)
class ErrorKey:
    """What makes an error distinct within an env: kind, endpoint and the error's own fields."""

    kind: str
    endpoint_id: int
    fields: ErrorFields

    @functools.cached_property
    def fingerprint(self) -> str:
        f = self.fields
        return hashlib.sha256(orjson.dumps([self.kind, f.type, f.msg, f.traceback, f.loc])).hexdigest()


@dataclasses.dataclass(frozen=True)
class ErrorCount:
    key: ErrorKey
    bucket: int  # the minute the occurrences fall in
    consumer_id: int
    count: int
    sentry_event_id: str | None = None


def store(
    conn: sa.Connection,
    pending: Pending,
    env_id: int,
    seen_at: float,
    counts: Sequence[ErrorCount],
) -> None:
    """Create missing groups, move their last_seen forward (throttled), and append the counts per minute."""
    if not counts:
        return
    keyed = {(env_id, c.key.kind, c.key.endpoint_id, c.key.fingerprint): c.key for c in counts}
    missing = sorted(k for k in keyed if pending.error_group(k) is None)  # one lock order for all writers
    if missing:
        insert_ignore(
            conn,
            error_groups,
            [
                {
                    "env_id": env_id,
                    "kind": kind,
                    "endpoint_id": endpoint_id,
                    "fingerprint": fingerprint,
                    "type": keyed[k].fields.type,
                    "msg": keyed[k].fields.msg,
                    "traceback": keyed[k].fields.traceback,
                    "loc": list(loc) if (loc := keyed[k].fields.loc) is not None else None,
                    "first_seen": seen_at,
                    "last_seen": seen_at,
                }
                for k in missing
                for (_env, kind, endpoint_id, fingerprint) in [k]
            ],
            ["env_id", "kind", "endpoint_id", "fingerprint"],
        )
        query = sa.select(
            error_groups.c.id,
            error_groups.c.kind,
            error_groups.c.endpoint_id,
            error_groups.c.fingerprint,
            error_groups.c.last_seen,
        ).where(error_groups.c.env_id == env_id, error_groups.c.fingerprint.in_({k[3] for k in missing}))
        for row in conn.execute(query):
            key = (env_id, row.kind, row.endpoint_id, row.fingerprint)
            pending.error_groups[key] = row.id
            pending.error_seen[row.id] = max(row.last_seen, pending.error_seen.get(row.id, 0.0))
    group_ids: dict[ErrorGroupKey, int] = {}
    for k in keyed:
        gid = pending.error_group(k)
        assert gid is not None, "every group was created above"
        group_ids[k] = gid
    stale = sorted(
        gid
        for gid in group_ids.values()
        if seen_at > (pending.error_seen.get(gid) or pending.cache.error_seen.get(gid, 0.0)) + SEEN_RESOLUTION
    )
    if stale:
        conn.execute(
            error_groups.update()
            .where(error_groups.c.id == sa.bindparam("gid"), error_groups.c.last_seen < seen_at)
            .values(last_seen=seen_at),
            [{"gid": gid} for gid in stale],
        )
        for gid in stale:
            pending.error_seen[gid] = seen_at
    totals: dict[tuple[int, int, int], int] = {}
    sentry_ids: dict[tuple[int, int, int], str | None] = {}
    for c in counts:
        gid = group_ids[(env_id, c.key.kind, c.key.endpoint_id, c.key.fingerprint)]
        slot = (gid, c.bucket, c.consumer_id)
        totals[slot] = totals.get(slot, 0) + c.count
        sentry_ids[slot] = c.sentry_event_id or sentry_ids.get(slot)
    # As tuples through the driver's bulk path (COPY on PostgreSQL): SQLAlchemy's executemany of
    # dicts cost more than the rows' own insert.
    bulk.append(
        conn,
        error_counts,
        _COUNT_COLUMNS,
        [(gid, bucket, cid, n, sentry_ids[(gid, bucket, cid)]) for (gid, bucket, cid), n in totals.items()],
    )


_COUNT_COLUMNS = ("group_id", "bucket", "consumer_id", "count", "sentry_event_id")
