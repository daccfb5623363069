"""Fixtures shared by every test folder: databases on both engines and a hub running as a process."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import sqlalchemy as sa
from tallyhub import histograms
from tallyhub.paths import path_key
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database
from tallyhub.storage.tables import DAY, HOUR, MINUTE, NO_ID, consumers, endpoints, metrics

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

    def api(self, path: str, /, **params: object) -> object:
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


# --- Metric rows built from individual requests, exactly as ingestion stores them (read-API tests) ---


@dataclasses.dataclass(frozen=True)
class Req:
    """One request as an instrumented API saw it (sizes None = unknown to the client)."""

    time: float
    method: str
    path: str
    status: int
    consumer: str | None = None
    response_time_ms: float = 50.0
    request_size: int | None = None
    response_size: int | None = None
    env: str = "prod"


def _time_bin(ms: float) -> int:
    return int(ms // 10) * 10


class MetricWriter:
    """Writes endpoints, consumers and metric rows for a list of Req, in the shape ingestion writes.

    `write(reqs)` stores minute rows (not rolled) at levels 0, 1 and 2; `write(reqs, rolled=True)`
    stores the same minute rows marked rolled plus the hour and day rows the rollup would make.
    `copies` splits every key's requests over that many rows, as several syncs or instances would.
    """

    Req = Req

    def __init__(self, db: Database, app_id: int) -> None:
        self.db = db
        self.app_id = app_id
        self.endpoint_ids: dict[tuple[int, str, str], int] = {}
        self.consumer_ids: dict[str, int] = {}

    def env_id(self, conn: sa.Connection, env: str) -> int:
        return app_store.ensure_env(conn, self.app_id, env)

    def endpoint(
        self, env: str, method: str, path: str, in_startup: bool = False, summary: str | None = None
    ) -> int:
        with self.db.write() as conn:
            return self._endpoint(conn, self.env_id(conn, env), method, path, in_startup, summary)

    def _endpoint(
        self,
        conn: sa.Connection,
        env_id: int,
        method: str,
        path: str,
        in_startup: bool = False,
        summary: str | None = None,
    ) -> int:
        key = (env_id, method.upper(), path_key(path))
        if key not in self.endpoint_ids:
            self.endpoint_ids[key] = conn.execute(
                endpoints.insert()
                .values(
                    env_id=env_id,
                    method=key[1],
                    path=path,
                    path_key=key[2],
                    in_startup=in_startup,
                    summary=summary,
                    first_seen=0.0,
                )
                .returning(endpoints.c.id)
            ).scalar_one()
        return self.endpoint_ids[key]

    def consumer(self, identifier: str, name: str | None = None, group: str | None = None) -> int:
        with self.db.write() as conn:
            return self._consumer(conn, identifier, name, group, 0.0)

    def _consumer(
        self, conn: sa.Connection, identifier: str, name: str | None, group: str | None, seen: float
    ) -> int:
        if identifier not in self.consumer_ids:
            self.consumer_ids[identifier] = conn.execute(
                consumers.insert()
                .values(
                    app_id=self.app_id,
                    identifier=identifier,
                    name=name,
                    group_name=group,
                    first_seen=seen,
                    last_seen=seen,
                )
                .returning(consumers.c.id)
            ).scalar_one()
        return self.consumer_ids[identifier]

    def write(self, reqs: Iterable[Req], rolled: bool = False, copies: int = 1) -> None:
        reqs = list(reqs)
        with self.db.write() as conn:
            keyed: dict[tuple[int, int, int, int, int, int], list[Req]] = {}
            for r in reqs:
                env_id = self.env_id(conn, r.env)
                endpoint_id = self._endpoint(conn, env_id, r.method, r.path)
                consumer_id = self._consumer(conn, r.consumer, None, None, r.time) if r.consumer else NO_ID
                minute = int(r.time // MINUTE) * MINUTE
                for level, e, c in (
                    (0, NO_ID, NO_ID),
                    (1, endpoint_id, NO_ID),
                    (2, endpoint_id, consumer_id),
                ):
                    keyed.setdefault((env_id, minute, level, e, c, r.status), []).append(r)
            rows = []
            for (env_id, minute, level, e, c, status), group in keyed.items():
                for part in _split(group, copies):
                    rows.append(_row(env_id, MINUTE, minute, level, e, c, status, part, rolled))
                if rolled:
                    for granularity in (HOUR, DAY):
                        bucket = minute // granularity * granularity
                        rows.append(_row(env_id, granularity, bucket, level, e, c, status, group, False))
            if rows:
                conn.execute(metrics.insert(), rows)


def _split(group: list[Req], copies: int) -> Iterator[list[Req]]:
    size = max(1, math.ceil(len(group) / copies))
    for i in range(0, len(group), size):
        yield group[i : i + size]


def _row(
    env_id: int,
    granularity: int,
    bucket: int,
    level: int,
    endpoint_id: int,
    consumer_id: int,
    status: int,
    reqs: list[Req],
    rolled: bool,
) -> dict[str, Any]:
    times: dict[int, int] = {}
    req_sizes: dict[int, int] = {}
    resp_sizes: dict[int, int] = {}
    for r in reqs:
        times[_time_bin(r.response_time_ms)] = times.get(_time_bin(r.response_time_ms), 0) + 1
        if r.request_size is not None:
            req_sizes[r.request_size // 1000] = req_sizes.get(r.request_size // 1000, 0) + 1
        if r.response_size is not None:
            resp_sizes[r.response_size // 1000] = resp_sizes.get(r.response_size // 1000, 0) + 1
    return {
        "env_id": env_id,
        "granularity": granularity,
        "bucket": bucket,
        "level": level,
        "endpoint_id": endpoint_id,
        "consumer_id": consumer_id,
        "status_code": status,
        "request_count": len(reqs),
        "request_size_sum": sum(r.request_size or 0 for r in reqs),
        "response_size_sum": sum(r.response_size or 0 for r in reqs),
        "response_times": histograms.dumps(times),
        "request_sizes": histograms.dumps(req_sizes),
        "response_sizes": histograms.dumps(resp_sizes),
        "rolled": rolled,
    }


def expected_stats(reqs: list[Req], apdex_t: int = 500) -> dict[str, Any]:
    """Stats computed directly from the requests (the oracle the API is checked against)."""
    n = len(reqs)
    c4 = sum(1 for r in reqs if 400 <= r.status < 500)
    c5 = sum(1 for r in reqs if 500 <= r.status < 600)
    known_in = [r.request_size for r in reqs if r.request_size is not None]
    known_out = [r.response_size for r in reqs if r.response_size is not None]
    times = sorted(r.response_time_ms for r in reqs)
    result: dict[str, Any] = {
        "requests": n,
        "requests_4xx": c4,
        "requests_5xx": c5,
        "error_rate": (c4 + c5) / n if n else 0.0,
        "bytes_received": sum(known_in),
        "bytes_sent": sum(known_out),
        "mean_request_size": sum(known_in) / len(known_in) if known_in else None,
        "mean_response_size": sum(known_out) / len(known_out) if known_out else None,
    }
    for name, q in (("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("p99", 0.99)):
        result[name] = times[max(1, math.ceil(q * n)) - 1] if n else None
    if n:
        # A response is satisfied when its whole 10 ms bin is within T (histograms.apdex).
        satisfied = sum(1 for t in times if _time_bin(t) + 10 <= apdex_t)
        tolerating = sum(1 for t in times if apdex_t < _time_bin(t) + 10 <= 4 * apdex_t)
        result["apdex"] = (satisfied + tolerating / 2) / n
    else:
        result["apdex"] = None
    return result


def assert_stats(actual: dict[str, Any], reqs: list[Req], apdex_t: int = 500) -> None:
    """Exact counts, bytes, means and Apdex; percentiles within one 10 ms bin of the true value."""
    expected = expected_stats(reqs, apdex_t)
    for key in ("requests", "requests_4xx", "requests_5xx", "bytes_received", "bytes_sent"):
        assert actual[key] == expected[key], key
    for key in ("error_rate", "mean_request_size", "mean_response_size", "apdex"):
        if expected[key] is None:
            assert actual[key] is None, key
        else:
            assert actual[key] == pytest.approx(expected[key]), key
    for key in ("p50", "p75", "p95", "p99"):
        if expected[key] is None:
            assert actual[key] is None, key
        else:
            # The middle of the bin the true percentile falls in: within one bin, and exactly so.
            assert actual[key] == _time_bin(expected[key]) + 5, (key, actual[key], expected[key])


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
    from tallyhub.app import create_app
    from tallyhub.settings import load_settings
    from tallyhub.storage.tokens import create_token

    created = app_store.create_app(db, "Shop", ("prod", "dev"))
    token = create_token(db, "tests")
    settings = load_settings({"database_url": str(db.url.render_as_string(hide_password=False))}, environ={})
    with TestClient(create_app(settings, db, run_maintenance=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield Api(created.id, created.client_id, MetricWriter(db, created.id), client, token)
