"""Fixtures shared by every test folder: databases on both engines and a hub running as a process."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database

from tests.support.hub_process import HubProcess, free_port
from tests.support.metric_rows import MetricWriter
from tests.support.web import Web

REPO = Path(__file__).resolve().parent
PG_URL = os.environ.get("TALLYHUB_TEST_DATABASE_URL", "")
PG_HINT = (
    "PostgreSQL tests are off: set TALLYHUB_TEST_DATABASE_URL="
    "postgresql+psycopg://postgres@127.0.0.1:5432/test to run them"
)


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


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[HubProcess]:
    process = HubProcess(database_url, free_port(), tmp_path / "hub.log")
    process.start()
    yield process
    process.stop()


@dataclasses.dataclass
class Api:
    """A hub app under test: its id, a MetricWriter for it and an authenticated TestClient."""

    app_id: int
    client_id: str
    writer: MetricWriter
    client: Any
    token: str

    def get(self, route: str, /, **params: Any) -> Any:
        """GET /api/v1/apps/{app_id}{path}, asserting 200, and return the JSON."""
        response = self.client.get(f"/api/v1/apps/{self.app_id}{route}", params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(db: Database) -> Iterator[Api]:
    """An app "Shop" (envs prod, dev) on a fresh database and a TestClient holding a valid token."""
    from fastapi.testclient import TestClient
    from tallyhub.accounts.tokens import create_token
    from tallyhub.app import create_app
    from tallyhub.settings import load_settings

    created = app_store.create_app(db, "Shop", ("prod", "dev"))
    token = create_token(db, "tests")
    # Tests call health-check targets and channels on 127.0.0.1: the local network is allowed here.
    url = str(db.url.render_as_string(hide_password=False))
    settings = load_settings({"database_url": url, "outbound_allow_local": True}, environ={})
    with TestClient(create_app(settings, db, run_maintenance=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield Api(created.id, created.client_id, MetricWriter(db, created.id), client, token)


# --- Dashboard (tallyhub.web) view tests ---


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at minimal cost: the same code and hash format for a fraction of the CPU time.

    The production parameters run in the browser tests, which start a real `tallyhub serve`.
    """
    from argon2 import PasswordHasher
    from tallyhub.accounts import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def web(db: Any, cheap_argon2: None) -> Iterator[Web]:
    """The dashboard over `db` (each engine)."""
    yield Web(db)
