"""Migration 0041: the apps' framework column comes and goes without touching the apps or anything of
theirs (SQLite must not rebuild apps: that cascades), on both engines."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tallyhub.storage import app_frameworks
from tallyhub.storage import apps as app_store
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import apps, envs


def _apps_and_envs(db: Any) -> tuple[list[Any], list[Any]]:
    with db.read() as conn:
        return (
            conn.execute(sa.select(apps.c.id, apps.c.name, apps.c.client_id).order_by(apps.c.id)).all(),
            conn.execute(sa.select(envs.c.app_id, envs.c.name).order_by(envs.c.id)).all(),
        )


def test_the_framework_column_comes_and_goes_keeping_the_apps(db: Any) -> None:
    chosen = app_store.create_app(db, "Shop", ("prod", "dev"), framework="litestar")
    app_store.create_app(db, "Old", ("prod",))
    before_apps, before_envs = _apps_and_envs(db)
    config = alembic_config(db)
    previous = ScriptDirectory.from_config(config).get_revision("0041").down_revision
    command.downgrade(config, str(previous))
    with db.read() as conn:
        assert "framework" not in {c["name"] for c in sa.inspect(conn).get_columns("apps")}
        # The other apps' columns are read by raw SQL: the table metadata has the new column.
        assert conn.execute(sa.text("SELECT count(*) FROM apps")).scalar_one() == 2
        assert conn.execute(sa.text("SELECT count(*) FROM envs")).scalar_one() == 3
    upgrade(db)
    assert _apps_and_envs(db) == (before_apps, before_envs)
    with db.read() as conn:
        # Apps that existed before the migration have no framework chosen; a new choice is stored again.
        assert app_frameworks.framework_of(conn, chosen.id) is None
    with db.write() as conn:
        app_frameworks.set_framework(conn, chosen.id, "litestar")
    with db.read() as conn:
        assert app_frameworks.framework_of(conn, chosen.id) == "litestar"
