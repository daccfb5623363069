"""Server and validation errors: one group per distinct error and endpoint, with per-minute counts."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import orjson
import sqlalchemy as sa

from tallyhub.storage.tables import error_counts, error_groups
from tallyhub.storage.upsert import insert_ignore

SERVER, VALIDATION = "server", "validation"


@dataclasses.dataclass(frozen=True)
class ErrorKey:
    """What makes an error distinct within an env: kind, endpoint and the error's own fields."""

    kind: str
    endpoint_id: int
    type: str
    msg: str
    traceback: str | None
    loc: tuple[str, ...] | None

    @property
    def fingerprint(self) -> str:
        fields = [
            self.kind,
            self.type,
            self.msg,
            self.traceback,
            list(self.loc) if self.loc is not None else None,
        ]
        return hashlib.sha256(orjson.dumps(fields)).hexdigest()


@dataclasses.dataclass(frozen=True)
class ErrorCount:
    key: ErrorKey
    consumer_id: int
    count: int
    sentry_event_id: str | None = None


def store(
    conn: sa.Connection, env_id: int, bucket: int, seen_at: float, counts: Sequence[ErrorCount]
) -> None:
    """Create missing groups, move their last_seen forward, and append this minute's counts."""
    if not counts:
        return
    keys = {c.key.fingerprint + f":{c.key.endpoint_id}:{c.key.kind}": c.key for c in counts}
    ordered = [keys[k] for k in sorted(keys)]  # one lock order for concurrent writers
    insert_ignore(
        conn,
        error_groups,
        [
            {
                "env_id": env_id,
                "kind": k.kind,
                "endpoint_id": k.endpoint_id,
                "fingerprint": k.fingerprint,
                "type": k.type,
                "msg": k.msg,
                "traceback": k.traceback,
                "loc": list(k.loc) if k.loc is not None else None,
                "first_seen": seen_at,
                "last_seen": seen_at,
            }
            for k in ordered
        ],
        ["env_id", "kind", "endpoint_id", "fingerprint"],
    )
    group_ids: dict[tuple[str, int, str], int] = {}
    query = sa.select(
        error_groups.c.id,
        error_groups.c.kind,
        error_groups.c.endpoint_id,
        error_groups.c.fingerprint,
        error_groups.c.last_seen,
    ).where(error_groups.c.env_id == env_id, error_groups.c.fingerprint.in_({k.fingerprint for k in ordered}))
    stale: list[int] = []
    for row in conn.execute(query):
        group_ids[(row.kind, row.endpoint_id, row.fingerprint)] = row.id
        if row.last_seen < seen_at:
            stale.append(row.id)
    if stale:
        conn.execute(
            error_groups.update()
            .where(error_groups.c.id == sa.bindparam("gid"), error_groups.c.last_seen < seen_at)
            .values(last_seen=seen_at),
            [{"gid": gid} for gid in sorted(stale)],
        )
    totals: dict[tuple[int, int], int] = {}
    sentry_ids: dict[tuple[int, int], str | None] = {}
    for c in counts:
        slot = (group_ids[(c.key.kind, c.key.endpoint_id, c.key.fingerprint)], c.consumer_id)
        totals[slot] = totals.get(slot, 0) + c.count
        sentry_ids[slot] = c.sentry_event_id or sentry_ids.get(slot)
    conn.execute(
        error_counts.insert(),
        [
            {
                "group_id": gid,
                "bucket": bucket,
                "consumer_id": cid,
                "count": n,
                "sentry_event_id": sentry_ids[(gid, cid)],
            }
            for (gid, cid), n in totals.items()
        ],
    )
