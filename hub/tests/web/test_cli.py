"""`tallyhub users create`, `apps create --team`, and the setup link that `serve` prints (both engines)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
from tallyhub.accounts import teams, users
from tallyhub.storage.database import Database

from tests.support.hub_process import HubProcess, free_port, tallyhub_cli


def _users_create(
    database_url: str, *args: str, password: str = "long password"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tallyhub",
            "users",
            "create",
            *args,
            "--password-stdin",
            "--database-url",
            database_url,
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
    )


def test_users_create(database_url: str) -> None:
    done = _users_create(database_url, "Root@Example.com", "--admin", "--team", "Ops")
    assert done.returncode == 0, done.stderr
    assert "root@example.com" in done.stdout and "admin" in done.stdout
    assert (
        _users_create(database_url, "viewer@example.com", "--team", "Ops", "--role", "viewer").returncode == 0
    )
    db = Database(database_url)
    try:
        with db.read() as conn:
            root = users.authenticate(conn, "root@example.com", "long password")
            viewer = users.user_by_email(conn, "viewer@example.com")
            ops = teams.team_by_name(conn, "Ops")
            assert root is not None and viewer is not None and ops is not None
            assert teams.role_of(conn, root.id, ops.id) == "admin"
            assert teams.role_of(conn, viewer.id, ops.id) == "viewer"
    finally:
        db.dispose()
    duplicate = _users_create(database_url, "root@example.com")
    assert duplicate.returncode == 2 and "exists already" in duplicate.stderr
    short = _users_create(database_url, "new@example.com", password="short")
    assert short.returncode == 2 and "at least 8" in short.stderr
    bad = _users_create(database_url, "not-an-address")
    assert bad.returncode == 2 and "not an e-mail address" in bad.stderr


def test_apps_create_into_a_team(database_url: str) -> None:
    created = json.loads(tallyhub_cli(database_url, "apps", "create", "Shop", "--team", "Ops", "--json"))
    plain = json.loads(tallyhub_cli(database_url, "apps", "create", "Misc", "--json"))
    db = Database(database_url)
    try:
        from tallyhub.storage.app_admin import team_app

        with db.read() as conn:
            shop, misc = team_app(conn, created["id"]), team_app(conn, plain["id"])
            ops, default = teams.team_by_name(conn, "Ops"), teams.team_by_name(conn, teams.DEFAULT_TEAM)
        assert shop is not None and ops is not None and shop.team_id == ops.id
        assert misc is not None and default is not None and misc.team_id == default.id
    finally:
        db.dispose()


def test_serve_prints_a_setup_link_while_no_user_exists(database_url: str, tmp_path: Path) -> None:
    hub = HubProcess(database_url, free_port(), tmp_path / "hub.log")
    hub.start()
    try:
        found = re.search(r"Create the first admin at: (http://\S+/setup/\S+)", hub.log_path.read_text())
        assert found, hub.log_path.read_text()
        link = found.group(1)
        assert link.startswith(hub.url + "/setup/")
        assert httpx.get(link).status_code == 200
        assert httpx.get(link + "x").status_code == 404
    finally:
        hub.stop()
    assert _users_create(database_url, "root@example.com", "--admin").returncode == 0
    hub.log_path.write_text("")
    hub.start()
    try:
        assert "/setup/" not in hub.log_path.read_text()
        assert httpx.get(link).status_code == 404  # spent once a user exists
    finally:
        hub.stop()


def test_apps_create_prints_a_write_token_and_write_token_makes_a_new_one(database_url: str) -> None:
    import time

    from tallyhub.storage import write_tokens

    created = json.loads(tallyhub_cli(database_url, "apps", "create", "Shop", "--json"))
    first = created["write_token"]
    second = tallyhub_cli(database_url, "apps", "write-token", "Shop").strip()
    none = tallyhub_cli(database_url, "apps", "write-token", "Shop", "--write-token-grace-hours", "0").strip()
    db = Database(database_url)
    try:
        with db.read() as conn:
            found = [write_tokens.app_for(conn, t, time.time()) for t in (first, second, none)]
    finally:
        db.dispose()
    assert first.startswith("apt_") and second.startswith("apt_") and len({first, second, none}) == 3
    # The first stays valid for the default grace period; the second was revoked at once by the third.
    assert found == [created["id"], None, created["id"]]


def test_apps_create_with_a_framework(database_url: str) -> None:
    from tallyhub.storage.app_admin import team_app

    created = json.loads(
        tallyhub_cli(database_url, "apps", "create", "Shop", "--framework", "litestar", "--json")
    )
    plain = json.loads(tallyhub_cli(database_url, "apps", "create", "Misc", "--json"))
    assert created["framework"] == "litestar" and plain["framework"] is None
    db = Database(database_url)
    try:
        with db.read() as conn:
            shop, misc = team_app(conn, created["id"]), team_app(conn, plain["id"])
        assert shop is not None and shop.framework == "litestar"  # what the setup page opens on
        assert misc is not None and misc.framework is None
    finally:
        db.dispose()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "tallyhub",
            "apps",
            "create",
            "X",
            "--framework",
            "rails",
            "--database-url",
            database_url,
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2, bad.stderr
    assert "'rails' is not one of" in bad.stderr and "'flask'" in bad.stderr and "'blacksheep'" in bad.stderr
