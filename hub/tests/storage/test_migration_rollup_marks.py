"""Migration 0042: the rollup's progress moves from a `rolled` flag on every minute row to a mark
(rollup_marks). Both ways keep every request: hour/day rows plus unrolled minutes stay exact, with late
rows (written after the rollup for minutes it had passed) among them, on both engines."""

from __future__ import annotations

import random
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.writer import Writer
from tallyhub.metrics import rollup
from tallyhub.storage import apps
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import DAY, HOUR, MINUTE, metrics

from hub.tests.metrics.test_rollup_retention import SETTINGS, T0, aggregate, assert_exact, random_sync, truth

INDEX = "ix_metrics_unrolled_minutes"
FLAGGED_UNROLLED = sa.and_(metrics.c.granularity == MINUTE, metrics.c.rolled.is_(False))


def _indexes(db: Any) -> set[str]:
    with db.read() as conn:
        return {i["name"] for i in sa.inspect(conn).get_indexes("metrics")}


def _flag_contract_is_exact(db: Any) -> None:
    """The contract before 0042: hour/day rows plus the minute rows not flagged rolled."""
    with db.read() as conn:
        for size in (HOUR, DAY):
            flagged = aggregate(conn, size, sa.or_(metrics.c.granularity == size, FLAGGED_UNROLLED))
            assert flagged == truth(db, size)


def test_downgrade_flags_what_the_mark_passed_and_upgrade_takes_the_flags_back(db: Any) -> None:
    app = apps.create_app(db, "Shop", ("prod",))
    writer, rng = Writer(db), random.Random(11)
    times = [T0 - 3 * HOUR + rng.uniform(0, 3 * HOUR) for _ in range(30)]
    for at in times:
        assert writer.store(app.id, "prod", translate.sync(random_sync(rng, at)))
    now = max(times) + 30
    rollup.run(db, SETTINGS, now - HOUR)  # the first two hours rolled
    for at in (T0 - 2.5 * HOUR, T0 - 30):  # a late row for a rolled minute, one for an open minute
        assert writer.store(app.id, "prod", translate.sync(random_sync(rng, at)))
    assert_exact(db)
    assert INDEX not in _indexes(db)

    config = alembic_config(db)
    command.downgrade(config, str(ScriptDirectory.from_config(config).get_revision("0042").down_revision))
    assert INDEX in _indexes(db)
    _flag_contract_is_exact(db)
    with db.read() as conn:
        assert not sa.inspect(conn).has_table("rollup_marks")
        flags = dict(
            conn.execute(
                sa.select(metrics.c.rolled, sa.func.count())
                .where(metrics.c.granularity == MINUTE)
                .group_by(metrics.c.rolled)
            ).all()
        )
    assert flags[True] > 0 and flags[False] > 0  # rolled minutes flagged, the late and open ones not

    upgrade(db)
    assert INDEX not in _indexes(db)
    assert_exact(db)
    with db.read() as conn:
        minutes = conn.execute(sa.select(sa.func.count()).where(metrics.c.granularity == MINUTE)).scalar_one()
    assert minutes == flags[True] + flags[False]  # no minute row lost or rewritten into another
    rollup.run(db, SETTINGS, now + HOUR)  # the rest, late row included, from the flags and the mark
    assert_exact(db)
    with db.read() as conn:
        unrolled = conn.execute(
            sa.select(sa.func.count()).where(FLAGGED_UNROLLED, sa.text("bucket < :b")), {"b": now // 60 * 60}
        ).scalar_one()
    assert unrolled > 0  # the mark, not flags, says these are rolled: the upgrade did not rewrite them
