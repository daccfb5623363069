"""Fixtures for the dashboard's view tests: the hub app on each engine, users in teams, signed-in clients."""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from tallyhub.app import create_app
from tallyhub.settings import load_settings
from tallyhub.storage import teams as team_store
from tallyhub.storage import users as user_store
from tallyhub.storage.database import Database

with warnings.catch_warnings():
    # Starlette's TestClient warns that it prefers another HTTP package; it still works with httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def csrf_of(html: str) -> str:
    """The CSRF token in a rendered page."""
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


@dataclasses.dataclass
class Web:
    """The hub's ASGI app over one database, with helpers to make users and sign them in."""

    db: Database
    password: str = PASSWORD

    def client(self, base_url: str = "http://testserver", **overrides: Any) -> TestClient:
        settings = load_settings({"database_url": str(self.db.url.render_as_string(False)), **overrides})
        app = create_app(settings, self.db, run_maintenance=False)
        return TestClient(app, base_url=base_url, follow_redirects=False)

    def user(self, email: str, team: str = "Acme", role: str = "admin") -> int:
        with self.db.write() as conn:
            user = user_store.user_by_email(conn, email) or user_store.create_user(
                conn, email, user_store.hash_password(PASSWORD)
            )
            team_store.set_role(conn, user.id, team_store.ensure_team(conn, team).id, role)
        return user.id

    def team_id(self, name: str) -> int:
        with self.db.read() as conn:
            found = team_store.team_by_name(conn, name)
        assert found is not None
        return found.id

    def signed_in(self, email: str, base_url: str = "http://testserver") -> TestClient:
        client = self.client(base_url)
        page = client.get("/login")
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 303, response.text
        return client

    @staticmethod
    def csrf(html: str) -> str:
        return csrf_of(html)

    @staticmethod
    def post(client: TestClient, path: str, data: dict[str, str] | None = None, page: str = "/apps") -> Any:
        """POST a form the way a browser does: with the CSRF token of a page it just loaded."""
        token = csrf_of(client.get(page).text)
        return client.post(path, data={"csrf_token": token, **(data or {})})


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with minimal cost: same code path and hash format, a fraction of the CPU time.

    The production parameters are exercised by the browser tests, which run a real `tallyhub serve`.
    """
    from argon2 import PasswordHasher

    monkeypatch.setattr(user_store, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def web(db: Database) -> Iterator[Web]:
    yield Web(db)
