"""`tallyhub tokens create --read-only`, `tokens list` and `tokens revoke` (both engines)."""

from __future__ import annotations

import json
import subprocess
import sys

from tallyhub.accounts import teams, tokens
from tallyhub.accounts.team_tokens import create_team_token
from tallyhub.storage.database import Database

from tests.support.hub_process import tallyhub_cli


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tallyhub", *args, "--database-url", database_url],
        capture_output=True,
        text=True,
    )


def test_tokens_list_and_revoke(database_url: str) -> None:
    everything = tallyhub_cli(database_url, "tokens", "create", "ci").strip()
    read_only = tallyhub_cli(database_url, "tokens", "create", "grafana", "--read-only").strip()
    db = Database(database_url)
    try:
        with db.write() as conn:
            team_token = create_team_token(conn, teams.ensure_team(conn, "Acme").id, "team ci")
        listed = json.loads(tallyhub_cli(database_url, "tokens", "list", "--json"))
        assert [(t["name"], t["team"], t["kind"]) for t in listed] == [
            ("ci", None, "read-write"),
            ("grafana", None, "read-only"),
            ("team ci", "Acme", "read-write"),
        ]
        text = tallyhub_cli(database_url, "tokens", "list")
        assert "grafana\t(every app)\tread-only" in text and "team ci\tAcme\tread-write" in text
        for secret in (everything, read_only, team_token):
            assert secret not in text  # only hashes are stored: nothing to print

        by_name = {t["name"]: t["id"] for t in listed}
        assert "Revoked token" in tallyhub_cli(database_url, "tokens", "revoke", str(by_name["team ci"]))
        with db.read() as conn:
            assert tokens.grant(conn, team_token) is None
            assert tokens.grant(conn, everything) is not None
        again = _cli(database_url, "tokens", "revoke", str(by_name["team ci"]))
        assert again.returncode == 2 and "no token with id" in again.stderr
        bad = _cli(database_url, "tokens", "revoke", "0")
        assert bad.returncode == 2
        assert [t["name"] for t in json.loads(tallyhub_cli(database_url, "tokens", "list", "--json"))] == [
            "ci",
            "grafana",
        ]
    finally:
        db.dispose()
