"""Creating teams is a hub-level choice (team_creation); the first user is a hub admin (both engines)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from tallyhub.accounts import invites, users
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import users as users_table

from tests.support.web import Web, csrf_of


def _create_team(client: Any, name: str) -> Any:
    token = csrf_of(client.get("/apps").text)
    return client.post("/teams", data={"name": name, "csrf_token": token})


def _is_hub_admin(db: Database, email: str) -> bool:
    with db.read() as conn:
        found = users.user_by_email(conn, email)
    assert found is not None
    return found.is_hub_admin


def test_the_first_admin_set_up_by_link_is_a_hub_admin_and_may_create_teams(web: Web) -> None:
    secret = invites.create_setup_link(web.db, time.time())
    client = web.client()
    form = {"email": "root@example.com", "password": web.password, "password2": web.password, "team": "Ops"}
    page = client.get(f"/setup/{secret}")
    assert client.post(f"/setup/{secret}", data={**form, "csrf_token": csrf_of(page.text)}).status_code == 303
    assert _is_hub_admin(web.db, "root@example.com")
    assert "New team" in client.get("/apps").text
    assert _create_team(client, "Side project").status_code == 303


def test_by_default_only_hub_admins_create_teams(web: Web) -> None:
    web.user("root@example.com", "Ops")  # the first user: a hub admin
    web.user("ann@example.com", "Acme", "admin")  # a team admin, not a hub admin
    assert _is_hub_admin(web.db, "root@example.com") and not _is_hub_admin(web.db, "ann@example.com")
    ann = web.signed_in("ann@example.com")
    assert "New team" not in ann.get("/apps").text
    refused = _create_team(ann, "Mine")
    assert refused.status_code == 403
    assert "hub admins" in refused.text
    with web.db.write() as conn:
        users.set_hub_admin(conn, "ann@example.com", True)
    assert _create_team(ann, "Mine").status_code == 303


def test_team_creation_anyone_lets_every_user_create_teams(web: Web) -> None:
    web.user("root@example.com", "Ops")
    web.user("vic@example.com", "Acme", "viewer")
    client = web.client(team_creation="anyone")
    page = client.get("/login")
    form = {"email": "vic@example.com", "password": web.password, "csrf_token": csrf_of(page.text)}
    assert client.post("/login", data=form).status_code == 303
    assert "New team" in client.get("/apps").text
    assert _create_team(client, "Side project").status_code == 303


def test_team_creation_setting_is_checked() -> None:
    from tallyhub.settings import load_settings

    assert load_settings(environ={}).team_creation == "admins"
    with pytest.raises(ValueError, match="TALLYHUB_TEAM_CREATION='everyone'"):
        load_settings(environ={"TALLYHUB_TEAM_CREATION": "everyone"})


def _cli(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tallyhub", "users", *args, "--database-url", database_url],
        input=stdin,
        capture_output=True,
        text=True,
    )


def test_users_cli_grants_and_revokes_hub_admin(database_url: str) -> None:
    first = _cli(database_url, "create", "root@example.com", "--password-stdin", stdin="long password\n")
    assert first.returncode == 0, first.stderr
    assert "hub admin" in first.stdout
    second = _cli(database_url, "create", "ann@example.com", "--password-stdin", stdin="long password\n")
    assert second.returncode == 0 and "hub admin" not in second.stdout
    db = Database(database_url)
    try:
        assert _is_hub_admin(db, "root@example.com") and not _is_hub_admin(db, "ann@example.com")
        granted = _cli(database_url, "hub-admin", "Ann@Example.com")
        assert granted.returncode == 0 and "now a hub admin" in granted.stdout
        assert _is_hub_admin(db, "ann@example.com")
        revoked = _cli(database_url, "hub-admin", "root@example.com", "--revoke")
        assert revoked.returncode == 0 and "no longer" in revoked.stdout
        assert not _is_hub_admin(db, "root@example.com")
        unknown = _cli(database_url, "hub-admin", "nobody@example.com")
        assert unknown.returncode == 2 and re.search(
            "no user has the e-mail nobody@example.com", unknown.stderr
        )
    finally:
        db.dispose()


def test_the_migration_makes_the_first_user_of_an_existing_hub_a_hub_admin(db: Database) -> None:
    command.downgrade(alembic_config(db), "0014")
    with db.write() as conn:
        for email in ("first@example.com", "second@example.com"):
            conn.execute(
                sa.text("INSERT INTO users (email, password_hash, created_at) VALUES (:e, 'x', 0)"),
                {"e": email},
            )
    upgrade(db)
    with db.read() as conn:
        rows = dict(conn.execute(sa.select(users_table.c.email, users_table.c.is_hub_admin)).all())
    assert rows == {"first@example.com": True, "second@example.com": False}
