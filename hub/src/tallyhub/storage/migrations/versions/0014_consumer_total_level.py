"""metrics level 3 (per consumer and status code): built from the level-2 rows stored before it

Revision ID: 0014
Revises: 0013

Consumer views without an endpoint filter read level 3 from now on, so data stored before this
revision gets its level-3 rows here: the level-2 rows (per endpoint, consumer and status) of each
env, granularity and bucket summed over their endpoints, minute rows keeping their `rolled` mark so
that hour/day rows + unrolled minutes still hold every request once. The histograms are JSON, so the
sums are made in Python, a few buckets at a time (memory stays bounded on any data set).
"""

from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

LEVEL_CONSUMER, LEVEL_CONSUMER_TOTAL = 2, 3
# Buckets read at once per granularity: about an hour of minutes, six hours, one day.
BUCKETS_PER_READ = {60: 60, 3600: 6, 86400: 1}
INSERT_ROWS = 5000

metrics = sa.table(
    "metrics",
    *(
        sa.column(name)
        for name in (
            "env_id",
            "granularity",
            "bucket",
            "level",
            "endpoint_id",
            "consumer_id",
            "status_code",
            "request_count",
            "request_size_sum",
            "response_size_sum",
            "response_times",
            "request_sizes",
            "response_sizes",
            "rolled",
        )
    ),
)
c = metrics.c


def upgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.select(c.level).where(c.level == LEVEL_CONSUMER_TOTAL).limit(1)).first():
        return  # written by a hub already running this code: nothing to build
    env_ids = conn.execute(sa.text("SELECT id FROM envs ORDER BY id")).scalars().all()
    pending: list[dict[str, Any]] = []
    for env_id in env_ids:
        for granularity, per_read in BUCKETS_PER_READ.items():
            for rows in _windows(conn, env_id, granularity, per_read * granularity):
                pending.extend(_summed(env_id, granularity, rows))
                if len(pending) >= INSERT_ROWS:
                    conn.execute(metrics.insert(), pending)
                    pending = []
    if pending:
        conn.execute(metrics.insert(), pending)


def _windows(conn: sa.Connection, env_id: int, granularity: int, span: int) -> Iterator[Sequence[Any]]:
    """The env's level-2 rows of one granularity, `span` seconds of buckets at a time (skipping gaps)."""
    where = (c.env_id == env_id, c.granularity == granularity, c.level == LEVEL_CONSUMER)
    start = conn.execute(sa.select(sa.func.min(c.bucket)).where(*where)).scalar()
    while start is not None:
        end = start + span
        yield conn.execute(
            sa.select(
                c.bucket,
                c.consumer_id,
                c.status_code,
                c.rolled,
                c.request_count,
                c.request_size_sum,
                c.response_size_sum,
                c.response_times,
                c.request_sizes,
                c.response_sizes,
            ).where(*where, c.bucket >= start, c.bucket < end)
        ).all()
        start = conn.execute(sa.select(sa.func.min(c.bucket)).where(*where, c.bucket >= end)).scalar()


def _summed(env_id: int, granularity: int, rows: Sequence[Any]) -> list[dict[str, Any]]:
    sums: dict[tuple[int, int, int, bool], list[Any]] = {}
    for row in rows:
        key = (row.bucket, row.consumer_id, row.status_code, bool(row.rolled))
        total = sums.get(key)
        if total is None:
            total = sums[key] = [0, 0, 0, {}, {}, {}]
        total[0] += row.request_count
        total[1] += row.request_size_sum
        total[2] += row.response_size_sum
        for hist, text in zip(
            total[3:], (row.response_times, row.request_sizes, row.response_sizes), strict=True
        ):
            for bin_, count in orjson.loads(text).items():
                hist[bin_] = hist.get(bin_, 0) + count
    return [
        {
            "env_id": env_id,
            "granularity": granularity,
            "bucket": bucket,
            "level": LEVEL_CONSUMER_TOTAL,
            "endpoint_id": 0,
            "consumer_id": consumer_id,
            "status_code": status_code,
            "request_count": count,
            "request_size_sum": request_bytes,
            "response_size_sum": response_bytes,
            "response_times": _dumps(times),
            "request_sizes": _dumps(request_sizes),
            "response_sizes": _dumps(response_sizes),
            "rolled": rolled,
        }
        for (bucket, consumer_id, status_code, rolled), (
            count,
            request_bytes,
            response_bytes,
            times,
            request_sizes,
            response_sizes,
        ) in sums.items()
    ]


def _dumps(hist: dict[str, int]) -> str:
    """As tallyhub.histograms.dumps writes them: integer bins in order, empty bins left out."""
    ordered = {int(bin_): count for bin_, count in hist.items() if count}
    return orjson.dumps(ordered, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS).decode()


def downgrade() -> None:
    op.execute(metrics.delete().where(c.level == LEVEL_CONSUMER_TOTAL))
