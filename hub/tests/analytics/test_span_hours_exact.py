"""The traces view's span counts read from the hourly counts (storage.span_hours) with edge minutes from
span_records equal the GROUP BY over span_records alone (the query used before them), for random ranges
on hour boundaries and not, one env or both, on both engines; also after retention and after migration
0035 fills the hours from spans stored before it.

Spans come through ingestion (Writer) into two envs at random times of the last 20 hours, some right on
or just below an hour boundary, with requests logged twice (their spans are stored, and counted, once).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from unittest import mock

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tallyhub.analytics import spans
from tallyhub.ingest import batch, retention
from tallyhub.settings import load_settings
from tallyhub.storage import apps, span_hours
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import DAY, HOUR, span_records

from tests.support import app_logs as data

NOW = 1_795_651_200.0 + 0.25 * HOUR  # a quarter past an hour
SPAN = 20 * HOUR
NAMES = ("db.query", "render", "http.call", "cache.get")
FUNCTION_DB = [HealthCheck.function_scoped_fixture]  # the data set is made once and only read after


def _request(rnd: random.Random, i: int, env: str) -> batch.RequestLog:
    hour = NOW - SPAN + rnd.randrange(int(SPAN // HOUR) + 1) * HOUR
    at = rnd.choice((hour, hour - 1e-6, hour + rnd.uniform(0, HOUR), NOW - rnd.uniform(0, SPAN)))
    start_ns = int(at * 1e9)
    span_list = [
        batch.Span(
            uuid.uuid4().hex[:16],
            None,
            rnd.choice(NAMES),
            "INTERNAL",
            start_ns + k,
            start_ns + k + int(rnd.lognormvariate(0, 1.5) * 1e6 * (1 + NAMES.index(NAMES[k % 4]))),
            "OK",
            None,
        )
        for k in range(rnd.randint(1, 4))
    ]
    return batch.RequestLog(
        uuid=str(uuid.UUID(int=i + 1)),
        timestamp=at,
        method="GET",
        path="/x",
        url=f"https://shop.test/x/{i}",
        status_code=200,
        response_time=0.01,
        spans=span_list,
    )


def _load(db: Database) -> dict[int, str]:
    """Spans of 600 requests in prod and dev (some logged twice); returns the envs' names by id."""
    rnd = random.Random(35)
    app = apps.create_app(db, "Shop", ("prod", "dev"))
    made: list[tuple[str, batch.RequestLog]] = []
    for i in range(600):
        env = rnd.choice(("prod", "dev"))
        made.append((env, _request(rnd, i, env)))
    for start in range(0, len(made), 50):
        chunk = made[start : start + 50]
        for env in ("prod", "dev"):
            logs = [log for e, log in chunk if e == env]
            data.store(db, app.id, env, [*logs, *logs[:2]], NOW)  # twice in one batch
            data.store(db, app.id, env, logs[2:4], NOW)  # and again in a later one
    with db.read() as conn:
        return apps.app_envs(conn, app.id)


@pytest.fixture
def shop(db: Database) -> tuple[Database, dict[int, str]]:
    return db, _load(db)


def _from_spans(
    conn: sa.Connection, env_ids: Sequence[int], start: float, end: float
) -> Mapping[tuple[str, int], int]:
    """The counts as the traces view read them before span_hours: one GROUP BY over span_records."""
    c = span_records.c
    query = (
        sa.select(c.name, c.duration_bin, sa.func.count())
        .where(c.env_id.in_(tuple(env_ids)), c.timestamp >= start, c.timestamp < end)
        .group_by(c.name, c.duration_bin)
    )
    return {(name, b): int(n) for name, b, n in conn.execute(query)}


def _both(db: Database, env_names: Mapping[int, str], start: float, end: float) -> tuple[Any, Any]:
    with db.read() as conn:
        fast = span_hours.counts(conn, tuple(env_names), start, end)
        exact = _from_spans(conn, tuple(env_names), start, end)
    return fast, exact


ranges = st.tuples(
    st.integers(-2, int(SPAN // 60) + 2),  # minutes back from the oldest span
    st.integers(0, int(SPAN // 60) + 4),  # length in minutes
    st.sampled_from((0.0, 0.5, 7.25, -1e-6)),  # seconds past the minute
    st.booleans(),  # whole minutes at the end, or the same offset
    st.sampled_from(("both", "prod", "dev")),
)


def _range(rng: tuple[int, int, float, bool, str], env_names: Mapping[int, str]) -> tuple[Any, float, float]:
    back, length, past, aligned_end, which = rng
    start = NOW - SPAN + back * 60 + past
    end = start + length * 60 + (-past if aligned_end else 0)
    chosen = {i: n for i, n in env_names.items() if which in ("both", n)}
    return chosen, start, end


@settings(max_examples=80, deadline=None, suppress_health_check=FUNCTION_DB)
@given(rng=ranges)
def test_counts_match_the_span_rows(shop: tuple[Database, dict[int, str]], rng: Any) -> None:
    db, env_names = shop
    chosen, start, end = _range(rng, env_names)
    fast, exact = _both(db, chosen, start, end)
    assert fast == exact


@settings(max_examples=25, deadline=None, suppress_health_check=FUNCTION_DB)
@given(rng=ranges)
def test_the_traces_view_matches_the_old_query(shop: tuple[Database, dict[int, str]], rng: Any) -> None:
    db, env_names = shop
    chosen, start, end = _range(rng, env_names)
    with db.read() as conn:
        fast = spans.slowest_spans(conn, chosen, start, end, 10)
        with mock.patch.object(span_hours, "counts", _from_spans):
            exact = spans.slowest_spans(conn, chosen, start, end, 10)
    assert fast == exact


def test_the_whole_range_has_every_span_once(shop: tuple[Database, dict[int, str]]) -> None:
    """Requests logged twice count once, and the hours (not only the edges) answer most of the range."""
    db, env_names = shop
    fast, exact = _both(db, env_names, NOW - DAY, NOW + 2 * HOUR)
    with db.read() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(span_records)).scalar_one()
        in_hours = conn.execute(sa.select(sa.func.sum(span_hours.span_hours.c.spans))).scalar_one()
    assert fast == exact
    assert sum(fast.values()) == stored == in_hours
    assert stored > 600


def test_retention_cuts_spans_and_hours_on_one_hour_boundary(shop: tuple[Database, dict[int, str]]) -> None:
    db, env_names = shop
    keep = load_settings({"database_url": "sqlite://", "retention_request_logs_days": 1}, environ={})
    cutoff = NOW - 9.6 * HOUR
    retention.run(db, keep, cutoff + DAY)
    boundary = cutoff // HOUR * HOUR
    with db.read() as conn:
        oldest_hour = conn.execute(sa.select(sa.func.min(span_hours.span_hours.c.bucket))).scalar_one()
        oldest_span = conn.execute(sa.select(sa.func.min(span_records.c.timestamp))).scalar_one()
    assert oldest_hour == boundary and boundary <= oldest_span < cutoff
    for start in (NOW - SPAN, boundary, cutoff, boundary + 0.5 * HOUR):
        fast, exact = _both(db, env_names, start, NOW + 1)
        assert fast == exact and sum(fast.values()) > 0


def test_the_migration_fills_the_hours_ingestion_keeps(shop: tuple[Database, dict[int, str]]) -> None:
    db, _ = shop
    hours = span_hours.span_hours
    with db.read() as conn:
        kept = sorted(conn.execute(sa.select(hours)).all())
    config = alembic_config(db)
    command.downgrade(config, "0034")
    upgrade(db)
    with db.read() as conn:
        assert sorted(conn.execute(sa.select(hours)).all()) == kept
    assert len(kept) > 50
