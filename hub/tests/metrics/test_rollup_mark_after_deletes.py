"""The rollup mark stays right when the newest minute rows are deleted (an env or an app removed).

SQLite gives a new row the largest rowid plus one, so after the rows with the largest ids are gone, a
late row (a sync for a minute the mark has passed) could get an id at or below the mark's through_id and
be taken as rolled: counted nowhere. Both engines."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.writer import Writer
from tallyhub.metrics import rollup
from tallyhub.storage import app_admin, apps
from tallyhub.storage.tables import HOUR, metrics, rollup_marks

from hub.tests.metrics.test_rollup_retention import SETTINGS, T0, assert_exact, random_sync

Removal = Callable[[sa.Connection, int, int], None]


def _remove_env(conn: sa.Connection, app_id: int, _other_id: int) -> None:
    app_admin.remove_env(conn, app_id, "dev")


def _delete_other_app(conn: sa.Connection, _app_id: int, other_id: int) -> None:
    app_admin.delete_app(conn, other_id)


@pytest.mark.parametrize("removal", [_remove_env, _delete_other_app])
def test_a_late_row_after_the_newest_rows_went_is_counted(db: Any, removal: Removal) -> None:
    app = apps.create_app(db, "Shop", ("prod", "dev"))
    other = apps.create_app(db, "Other", ("dev",))
    writer, rng = Writer(db), random.Random(7)
    for i in range(6):
        assert writer.store(app.id, "prod", translate.sync(random_sync(rng, T0 - 3 * HOUR + 60 * i)))
    rollup.run(db, SETTINGS, T0 - HOUR)  # prod's minutes rolled, its hour rows written
    target = app.id if removal is _remove_env else other.id
    for i in range(6):  # then the newest rows and, rolled, their hour rows: the largest ids
        assert writer.store(target, "dev", translate.sync(random_sync(rng, T0 - 30 * (i + 1))))
    rollup.run(db, SETTINGS, T0 + HOUR)  # the mark passes every row
    with db.read() as conn:
        through = conn.execute(sa.select(rollup_marks.c.through_id)).scalar_one()
    with db.write() as conn:
        removal(conn, app.id, other.id)
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.max(metrics.c.id))).scalar_one() < through
    assert writer.store(app.id, "prod", translate.sync(random_sync(rng, T0 - 2.5 * HOUR)))  # late
    assert_exact(db)
    rollup.run(db, SETTINGS, T0 + 2 * HOUR)
    assert_exact(db)
