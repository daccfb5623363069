"""Fixtures shared by every test folder: databases on both engines and a hub running as a process."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent
PG_URL = os.environ.get("TALLYHUB_TEST_DATABASE_URL", "")
PG_HINT = (
    "PostgreSQL tests are off: set TALLYHUB_TEST_DATABASE_URL="
    "postgresql+psycopg://postgres@127.0.0.1:5432/test to run them"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_admin() -> sa.Engine:
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test's database is copied from."""
    from tallyhub.storage.database import Database
    from tallyhub.storage.migrate import upgrade

    name = f"tallyhub_tpl_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    db = Database(sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    upgrade(db)
    db.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each engine (PostgreSQL only when configured)."""
    if request.param == "sqlite":
        from tallyhub.storage.database import Database
        from tallyhub.storage.migrate import upgrade

        url = f"sqlite:///{tmp_path / 'tallyhub.sqlite3'}"
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: " + PG_HINT)
        pytest.skip(PG_HINT)
    template = request.getfixturevalue("_pg_template")
    name = f"tallyhub_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[object]:
    """A `tallyhub.storage.database.Database` on each engine."""
    from tallyhub.storage.database import Database

    database = Database(database_url)
    yield database
    database.dispose()


def tallyhub_cli(database_url: str, *args: str) -> str:
    """Run the `tallyhub` command against a database and return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "tallyhub", *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@dataclasses.dataclass
class HubProcess:
    """`tallyhub serve` running as a real process on a free port."""

    database_url: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    token: str = ""
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **env: str) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tallyhub",
                "serve",
                "--port",
                str(self.port),
                "--database-url",
                self.database_url,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"hub did not start: {self.log_path.read_text()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_log()

    def create_app(self, name: str, *envs: str) -> dict[str, object]:
        args = ["apps", "create", name, "--json"] + [a for e in envs for a in ("--env", e)]
        created: dict[str, object] = json.loads(tallyhub_cli(self.database_url, *args))
        return created

    def api(self, path: str, **params: object) -> object:
        """GET a read-API path (under /api/v1) and return the decoded JSON."""
        if not self.token:
            self.token = tallyhub_cli(self.database_url, "tokens", "create", "tests").strip()
        response = httpx.get(
            f"{self.url}/api/v1{path}",
            params={k: v for k, v in params.items() if v is not None},  # type: ignore[misc]
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[HubProcess]:
    process = HubProcess(database_url, free_port(), tmp_path / "hub.log")
    process.start()
    yield process
    process.stop()


# --- Dashboard (tallyhub.web) view tests: users in teams, signed-in clients, on each engine ---

WEB_PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    """The CSRF token in a rendered dashboard page."""
    import re

    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


@dataclasses.dataclass
class Web:
    """The hub's ASGI app (create_app, no maintenance) over one database, with users and sign-in."""

    db: Any
    password: str = WEB_PASSWORD

    def client(self, base_url: str = "http://testserver", **overrides: Any) -> Any:
        """A TestClient on a fresh app instance (two clients = two hub processes over one database)."""
        import warnings

        from tallyhub.app import create_app
        from tallyhub.settings import load_settings

        with warnings.catch_warnings():
            # Starlette's TestClient warns that it prefers another HTTP package; it works with httpx.
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        url = self.db.url.render_as_string(hide_password=False)
        app = create_app(load_settings({"database_url": url, **overrides}), self.db, run_maintenance=False)
        return TestClient(app, base_url=base_url, follow_redirects=False)

    def user(self, email: str, team: str = "Acme", role: str = "admin") -> int:
        """Make (or reuse) a user with WEB_PASSWORD and give them `role` in `team`; returns the id."""
        from tallyhub.storage import teams, users

        with self.db.write() as conn:
            user = users.user_by_email(conn, email) or users.create_user(
                conn, email, users.hash_password(self.password)
            )
            teams.set_role(conn, user.id, teams.ensure_team(conn, team).id, role)
        return int(user.id)

    def team_id(self, name: str) -> int:
        from tallyhub.storage import teams

        with self.db.read() as conn:
            found = teams.team_by_name(conn, name)
        assert found is not None
        return found.id

    def signed_in(self, email: str, base_url: str = "http://testserver") -> Any:
        """A client signed in through the login form."""
        client = self.client(base_url)
        page = client.get("/login")
        response = client.post(
            "/login", data={"email": email, "password": self.password, "csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 303, response.text
        return client

    @staticmethod
    def csrf(html: str) -> str:
        return csrf_of(html)

    @staticmethod
    def post(client: Any, path: str, data: dict[str, str] | None = None, page: str = "/apps") -> Any:
        """POST a form the way a browser does: with the CSRF token of a page it just loaded."""
        token = csrf_of(client.get(page).text)
        return client.post(path, data={"csrf_token": token, **(data or {})})


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at minimal cost: the same code and hash format for a fraction of the CPU time.

    The production parameters run in the browser tests, which start a real `tallyhub serve`.
    """
    from argon2 import PasswordHasher
    from tallyhub.storage import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def web(db: Any, cheap_argon2: None) -> Iterator[Web]:
    """The dashboard over `db` (each engine)."""
    yield Web(db)
