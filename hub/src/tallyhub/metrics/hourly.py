"""A rollup batch's sums per bucket and key, and adding them to the stored hour or day rows.

The batch arrives summed by SQL (rollup.py): per env, hour and key, the counts and size sums added and
each histogram column's minute texts joined by commas. A group's histograms are parsed in one orjson
call ("[" + texts + "]") and merged with their JSON string keys: histograms.dumps sorts int keys as
strings too, so the stored text is the same as histograms.dumps would write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from tallyhub.storage.tables import metrics

# (env_id, level, endpoint_id, consumer_id, status_code): a row within its granularity and bucket.
Key = tuple[int, int, int, int, int]
Hist = dict[str, int]


@dataclasses.dataclass(slots=True)
class Sums:
    request_count: int
    request_size_sum: int
    response_size_sum: int
    hists: tuple[Hist, Hist, Hist]  # response times, request sizes, response sizes

    def add(self, other: Sums) -> None:
        self.request_count += other.request_count
        self.request_size_sum += other.request_size_sum
        self.response_size_sum += other.response_size_sum
        for mine, theirs in zip(self.hists, other.hists, strict=True):
            _merge_into(mine, theirs)

    def copy(self) -> Sums:
        hists = (dict(self.hists[0]), dict(self.hists[1]), dict(self.hists[2]))
        return Sums(self.request_count, self.request_size_sum, self.response_size_sum, hists)

    def columns(self) -> dict[str, Any]:
        times, request_sizes, response_sizes = self.hists
        return {
            "request_count": self.request_count,
            "request_size_sum": self.request_size_sum,
            "response_size_sum": self.response_size_sum,
            "response_times": _dumps(times),
            "request_sizes": _dumps(request_sizes),
            "response_sizes": _dumps(response_sizes),
        }


class Groups:
    """Sums per bucket (of one granularity) and key, and how many minute rows they hold."""

    def __init__(self) -> None:
        self.by_bucket: dict[int, dict[Key, Sums]] = {}
        self.minute_rows = 0

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]]) -> Groups:
        """From rows of (5 key columns, bucket, minute rows, 3 sums, 3 comma-joined histogram texts)."""
        groups = cls()
        by_bucket = groups.by_bucket
        for row in rows:
            env_id, level, endpoint_id, consumer_id, status_code, bucket, n, a, b, c, t, q, r = row
            slot = by_bucket.get(bucket)
            if slot is None:
                slot = by_bucket[bucket] = {}
            hists = (_joined(t), _joined(q), _joined(r))
            slot[(env_id, level, endpoint_id, consumer_id, status_code)] = Sums(int(a), int(b), int(c), hists)
            groups.minute_rows += n
        return groups

    def coarser(self, size: int) -> Groups:
        """The same sums per bucket of `size` seconds (copies: self's sums are left as they are)."""
        out = Groups()
        out.minute_rows = self.minute_rows
        for bucket, slot in self.by_bucket.items():
            target = out.by_bucket.setdefault(bucket // size * size, {})
            for key, sums in slot.items():
                found = target.get(key)
                if found is None:
                    target[key] = sums.copy()
                else:
                    found.add(sums)
        return out


def add_to_stored(conn: sa.Connection, granularity: int, groups: Groups) -> None:
    """Add the sums to the stored rows of their keys, inserting the rows that do not exist yet.

    Reads the stored rows of the groups' buckets in one query (at most one per key: rollups never run
    concurrently) and writes one executemany UPDATE and one INSERT. The groups' sums are changed.
    """
    if not groups.by_bucket:
        return
    c = metrics.c
    stored = conn.execute(
        sa.select(
            c.id, c.bucket, c.env_id, c.level, c.endpoint_id, c.consumer_id, c.status_code,
            c.request_count, c.request_size_sum, c.response_size_sum,
            c.response_times, c.request_sizes, c.response_sizes,
        ).where(
            # Hour and day rows are never marked rolled: this is the (granularity, rolled, bucket) index.
            c.granularity == granularity,
            c.rolled == sa.false(),
            c.bucket.in_(list(groups.by_bucket)),
        )
    )  # fmt: skip
    updates: list[dict[str, Any]] = []
    seen: set[tuple[int, Key]] = set()
    for row_id, bucket, *key_and_values in stored:
        key: Key = tuple(key_and_values[:5])
        sums = groups.by_bucket[bucket].get(key)
        if sums is None or (bucket, key) in seen:
            continue
        seen.add((bucket, key))
        a, b, cc, t, q, r = key_and_values[5:]
        sums.add(Sums(a, b, cc, (orjson.loads(t), orjson.loads(q), orjson.loads(r))))
        # Granularity and bucket besides the id: PostgreSQL then updates in one partition only.
        updates.append({"row_id": row_id, "g": granularity, "b": bucket, **sums.columns()})
    inserts: list[dict[str, Any]] = [
        {
            "env_id": key[0],
            "granularity": granularity,
            "bucket": bucket,
            "level": key[1],
            "endpoint_id": key[2],
            "consumer_id": key[3],
            "status_code": key[4],
            "rolled": False,
            **sums.columns(),
        }
        for bucket, slot in groups.by_bucket.items()
        for key, sums in slot.items()
        if (bucket, key) not in seen
    ]
    if updates:
        value_columns = ("request_count", "request_size_sum", "response_size_sum", *_HIST_COLUMNS)
        conn.execute(
            metrics.update()
            .where(
                c.id == sa.bindparam("row_id"),
                c.granularity == sa.bindparam("g"),
                c.bucket == sa.bindparam("b"),
            )
            .values({name: sa.bindparam(name) for name in value_columns}),
            updates,
        )
    if inserts:
        conn.execute(metrics.insert(), inserts)


_HIST_COLUMNS = ("response_times", "request_sizes", "response_sizes")


def _joined(texts: str | None) -> Hist:
    """Comma-joined histogram texts merged into one histogram (string keys, as in the JSON)."""
    if not texts:
        return {}
    parsed: list[Hist] = orjson.loads("[" + texts + "]")
    total = parsed[0]
    if len(parsed) > 1:
        get = total.get
        for hist in parsed[1:]:  # inlined: a batch merges three histograms per minute row
            for bin_, count in hist.items():
                total[bin_] = get(bin_, 0) + count
    return total


def _merge_into(target: Hist, source: Hist) -> None:
    get = target.get
    for bin_, count in source.items():
        target[bin_] = get(bin_, 0) + count


def _dumps(hist: Hist) -> str:
    return orjson.dumps({k: v for k, v in hist.items() if v}, option=orjson.OPT_SORT_KEYS).decode()
