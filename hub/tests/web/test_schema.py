"""Migration 0010 against tables.py, on both engines, and the storage rules it backs."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from tallyhub.accounts import invites, sessions, teams, users
from tallyhub.storage import apps as app_store
from tallyhub.storage import text_search
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import SQLITE_EXPORT_INDEX, apps, metadata


def test_migrations_match_tables_py(db: Database) -> None:
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    diffs = [d for d in diffs if not _is_text_search_object(d)]
    if db.is_sqlite:  # migration 0043's index, on SQLite only
        diffs = [d for d in diffs if not (d[0] == "remove_index" and d[1].name == SQLITE_EXPORT_INDEX)]
    if not db.is_sqlite:
        # Migrations 0030's and 0038's partitions reflect as tables of their own; the parent matches.
        with db.engine.connect() as conn:
            parts = set(conn.exec_driver_sql("SELECT relname FROM pg_class WHERE relispartition").scalars())
        assert "metrics_g60_default" in parts
        diffs = [d for d in diffs if not _of_partition(d, parts)]
        # Migration 0038's request_logs key holds its partition key: (env_id, uuid, timestamp) for
        # tables.py's (env_id, uuid). Only that pair of differences is let through.
        keys = {(d[0], tuple(c.name for c in d[1].columns)) for d in diffs if _is_request_log_key(d)}
        assert keys == {
            ("remove_constraint", ("env_id", "uuid", "timestamp")),
            ("add_constraint", ("env_id", "uuid")),
        }
        diffs = [d for d in diffs if not _is_request_log_key(d)]
    if db.is_sqlite:
        # SQLite's reflection does not read the name and ON DELETE of a foreign key added with
        # ALTER TABLE … ADD COLUMN (migration 0010 adds api_tokens.team_id that way; PRAGMA
        # foreign_key_list shows CASCADE is there). Every other difference still fails the test.
        def is_reflection_gap(diff: object) -> bool:
            return (
                isinstance(diff, tuple)
                and diff[0] in ("add_fk", "remove_fk")
                and diff[1].parent.name == "api_tokens"
            )

        with db.engine.connect() as conn:
            fk = conn.exec_driver_sql("PRAGMA foreign_key_list(api_tokens)").all()
        assert [(row[2], row[3], row[6]) for row in fk] == [("teams", "team_id", "CASCADE")]
        diffs = [d for d in diffs if not is_reflection_gap(d)]
    assert diffs == []


def _of_partition(diff: object, parts: set[str]) -> bool:
    """A partition (or an index on one) of migrations 0030 and 0038; tables.py declares its parent."""
    if not isinstance(diff, tuple):
        return False
    if diff[0] == "remove_table":
        return diff[1].name in parts
    return diff[0] == "remove_index" and diff[1].table.name in parts


def _is_request_log_key(diff: object) -> bool:
    return (
        isinstance(diff, tuple)
        and diff[0] in ("add_constraint", "remove_constraint")
        and isinstance(diff[1], sa.UniqueConstraint)
        and diff[1].table.name == "request_logs"
    )


def _is_text_search_object(diff: object) -> bool:
    """Migrations 0025's and 0031's per-engine text indexes, which tables.py cannot declare
    (storage/text_search.py)."""
    if not isinstance(diff, tuple):
        return False
    if diff[0] == "remove_table":
        return diff[1].name in text_search.SQLITE_OBJECTS
    return diff[0] == "remove_index" and diff[1].name in text_search.POSTGRES_INDEXES


def test_existing_apps_move_to_the_default_team(database_url: str) -> None:
    db = Database(database_url)
    try:
        with db.engine.begin() as conn:
            # Start from the base schema with an app in it, as an installation before teams would be.
            for table in reversed(metadata.sorted_tables):
                conn.execute(
                    sa.text(
                        f"DROP TABLE IF EXISTS {table.name} CASCADE"
                        if not db.is_sqlite
                        else f"DROP TABLE IF EXISTS {table.name}"
                    )
                )
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
            for fts in (text_search.FTS_TABLE, text_search.APP_LOG_FTS_TABLE):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {fts}"))
        command.upgrade(alembic_config(db), "0001")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO apps (name, client_id, created_at) VALUES ('Old', :cid, 1)"),
                {"cid": "00000000-0000-4000-8000-000000000000"},
            )
        upgrade(db)
        with db.read() as conn:
            team_id = conn.execute(sa.select(apps.c.team_id).where(apps.c.name == "Old")).scalar_one()
            found = teams.team_by_name(conn, teams.DEFAULT_TEAM)
        assert found is not None and team_id == found.id
    finally:
        db.dispose()


def test_apps_without_a_team_go_to_the_default_team(db: Database) -> None:
    app = app_store.create_app(db, "Cli app")
    with db.read() as conn:
        team_id = conn.execute(sa.select(apps.c.team_id).where(apps.c.id == app.id)).scalar_one()
        assert teams.get_team(conn, team_id) == teams.Team(team_id, teams.DEFAULT_TEAM)


def test_users_have_unique_lower_cased_emails(db: Database) -> None:
    hashed = users.hash_password("long password")
    assert hashed.startswith("$argon2id$")
    with db.write() as conn:
        created = users.create_user(conn, " Ann@Example.COM ", hashed)
    assert created.email == "ann@example.com"
    with pytest.raises(users.UserError, match="exists already"), db.write() as conn:
        users.create_user(conn, "ann@example.com", hashed)
    for bad in ("ann", "ann@localhost", "a b@example.com", "@example.com"):
        with pytest.raises(users.UserError), db.write() as conn:
            users.create_user(conn, bad, hashed)
    with db.read() as conn:
        assert users.authenticate(conn, "ANN@example.com", "long password") == created
        assert users.authenticate(conn, "ann@example.com", "wrong password") is None
        assert users.authenticate(conn, "nobody@example.com", "long password") is None
        assert users.count_users(conn) == 1
    with pytest.raises(users.UserError, match="at least 8"):
        users.hash_password("short")


def test_roles_are_ordered() -> None:
    assert teams.role_at_least("admin", "member") and teams.role_at_least("member", "viewer")
    assert not teams.role_at_least("viewer", "member") and not teams.role_at_least(None, "viewer")


def test_sessions_expire_and_end(db: Database) -> None:
    with db.write() as conn:
        user = users.create_user(conn, "ann@example.com", users.hash_password("long password"))
    now = time.time()
    token = sessions.create_session(db, user.id, now)
    with db.read() as conn:
        assert sessions.user_for_session(conn, token, now) == user.id
        assert sessions.user_for_session(conn, token, now + sessions.SESSION_SECONDS + 1) is None
        assert sessions.user_for_session(conn, "forged", now) is None
    sessions.end_session(db, token)
    with db.read() as conn:
        assert sessions.user_for_session(conn, token, now) is None


def test_one_time_links_work_once(db: Database) -> None:
    now = time.time()
    first = invites.create_setup_link(db, now)
    second = invites.create_setup_link(db, now)
    with db.write() as conn:
        assert invites.consume(conn, first, now) is None  # superseded by the newer link
        used = invites.consume(conn, second, now)
        assert used is not None and used.kind == "setup"
        assert invites.consume(conn, second, now) is None
    expired = invites.create_setup_link(db, now)
    with db.read() as conn:
        assert invites.peek(conn, expired, now + invites.SETUP_SECONDS + 1) is None
