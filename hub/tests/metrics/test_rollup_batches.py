"""A rollup works in batches: the dashboard reads the same figures in the middle of any batch, and a rollup
stopped half-way (a crash) and run again leaves the rows of one uninterrupted run."""

from __future__ import annotations

import random
from typing import Any

import pytest
import sqlalchemy as sa
from tallyhub.metrics import hourly, rollup
from tallyhub.settings import load_settings
from tallyhub.storage.tables import MINUTE, UNROLLED_MINUTES, metrics, rollup_marks

from tests.support.metric_rows import Req

T0 = 1_795_651_200.0  # a UTC midnight
SETTINGS = load_settings({})
HOUR = 3600


def _traffic(rng: random.Random) -> list[Req]:
    """Three hours around a midnight: several endpoints, consumers, statuses and response times."""
    return [
        Req(
            T0 - 1.5 * HOUR + rng.uniform(0, 3 * HOUR),
            rng.choice(["GET", "POST"]),
            rng.choice(["/a", "/b", "/c"]),
            rng.choice([200, 404, 500]),
            consumer=rng.choice([None, "alice", "bob"]),
            response_time_ms=rng.choice([5, 40, 120, 900]),
            request_size=rng.choice([None, 10, 2500]),
            response_size=rng.choice([None, 700, 12000]),
        )
        for _ in range(300)
    ]


def _answers(api: Any) -> list[Any]:
    """What the dashboard shows for the whole range, hourly and daily, and for a part of one hour."""
    answers = []
    for start, end in [(T0 - 2 * HOUR, T0 + 2 * HOUR), (T0 - 86400, T0 + 86400), (T0 + 600, T0 + 1800)]:
        params = {"start": str(start), "end": str(end)}
        answers += [api.get("/traffic", **params), api.get("/endpoints", **params)]
        answers.append(api.get("/consumers", **params))
    return answers


def _coarse_rows(api: Any) -> list[tuple[Any, ...]]:
    """Every row without its id (the minute rows as written: the rollup leaves them as they are)."""
    with api.writer.db.read() as conn:
        rows = conn.execute(sa.select(*[col for col in metrics.c if col.name != "id"])).all()
    return sorted(tuple(r) for r in rows)


def test_dashboard_reads_during_every_batch_equal_the_reads_before(api: Any, monkeypatch: Any) -> None:
    api.writer.write(_traffic(random.Random(5)))
    before = _answers(api)
    during: list[list[Any]] = []
    write = hourly.add_to_stored

    def write_then_read(conn: sa.Connection, granularity: int, groups: hourly.Groups) -> None:
        write(conn, granularity, groups)
        during.append(_answers(api))  # another connection, while the batch's transaction is open

    monkeypatch.setattr(hourly, "add_to_stored", write_then_read)
    rolled = rollup.run(api.writer.db, SETTINGS, T0 + 2 * HOUR, batch_rows=40)
    assert rolled > 10 * 40  # many batches
    assert len(during) > 20
    assert all(answers == before for answers in during)
    assert _answers(api) == before


def test_a_rollup_stopped_half_way_and_run_again_leaves_the_rows_of_one_run(
    api: Any, monkeypatch: Any
) -> None:
    api.writer.write(_traffic(random.Random(8)))
    db = api.writer.db
    before = _answers(api)
    write, calls = hourly.add_to_stored, [0]

    def crash_in_the_fifth_batch(conn: sa.Connection, granularity: int, groups: hourly.Groups) -> None:
        write(conn, granularity, groups)  # the batch's hour rows are written, then the process dies
        calls[0] += 1
        if calls[0] == 9:
            raise RuntimeError("killed")

    monkeypatch.setattr(hourly, "add_to_stored", crash_in_the_fifth_batch)
    with pytest.raises(RuntimeError):
        rollup.run(db, SETTINGS, T0 + 2 * HOUR, batch_rows=40)
    monkeypatch.undo()
    with db.read() as conn:
        minutes = conn.execute(
            sa.select(sa.func.count()).select_from(metrics).where(metrics.c.granularity == MINUTE)
        ).scalar_one()
        unrolled = conn.execute(
            sa.select(sa.func.count()).select_from(metrics).where(sa.text(UNROLLED_MINUTES))
        ).scalar_one()
    assert 4 * 40 <= minutes - unrolled < minutes  # four batches committed, the fifth rolled back, some left
    assert _answers(api) == before
    rollup.run(db, SETTINGS, T0 + 2 * HOUR, batch_rows=40)
    resumed = _coarse_rows(api)

    with db.write() as conn:  # the same minute rows, rolled by one uninterrupted run
        conn.execute(metrics.delete().where(metrics.c.granularity != MINUTE))
        conn.execute(rollup_marks.update().values(minutes_before=0, through_id=0))
    rollup.run(db, SETTINGS, T0 + 2 * HOUR)
    assert _coarse_rows(api) == resumed
    assert _answers(api) == before
