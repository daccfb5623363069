"""BENCH=hostile, cardinality case: another app's pages keep their time while one app holds 100,000 consumers.

One database per engine: a small app (20 consumers, 5 endpoints, a day of hourly syncs) is timed alone,
then the 100,000-consumer app (bench._many_consumers, through ingestion) is loaded beside it and both
are timed; prints each page's median, the small app's ratio after/before and each page's ratio to the
300 ms budget. The data lives in a temporary SQLite file and a temporary PostgreSQL database
(TALLYHUB_TEST_DATABASE_URL), dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tallyhub.accounts import teams
from tallyhub.accounts.sessions import create_session
from tallyhub.app import create_app
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import HOUR
from tallyhub.web.security import SESSION_COOKIE

from bench import _many_consumers
from bench.dashboard_pages import time_page, viewer
from bench.queries import BUDGET_MS

PAGES = (
    "/apps/{id}/traffic?period=24h",
    "/apps/{id}/endpoints?period=24h",
    "/apps/{id}/consumers?period=24h",
    "/apps/{id}/consumers/groups?period=24h",
    "/apps/{id}/consumers?period=7d",
)


def _small_app(db: Database, team_id: int, now: float) -> int:
    app = app_store.create_app(db, "Small", ("prod",), team_id=team_id)
    writer = Writer(db)
    for hour in range(24):
        entries = [
            {
                "consumer": f"user-{c}",
                "method": "GET",
                "path": f"/things/{e}",
                "status_code": 200 if (c + e) % 9 else 500,
                "request_count": 1 + (c * e) % 17,
                "request_size_sum": 0,
                "response_size_sum": 900,
                "response_times": {"30": 1 + (c * e) % 17},
                "request_sizes": {},
                "response_sizes": {"0": 1 + (c * e) % 17},
            }
            for c in range(20)
            for e in range(5)
        ]
        body = {
            "instance_uuid": "5a8f7c9e-0000-4000-8000-000000000001",
            "message_uuid": str(uuid.uuid4()),
            "timestamp": now - (24 - hour) * HOUR + 300,
            "requests": entries,
            "validation_errors": [],
            "server_errors": [],
            "consumers": [{"identifier": f"user-{c}", "name": None, "group": f"g{c % 3}"} for c in range(20)],
            "resources": None,
        }
        writer.store(app.id, "prod", translate.sync(Sync.model_validate_json(orjson.dumps(body))))
    return app.id


def _times(client: TestClient, engine: str, app_id: int) -> dict[str, float]:
    return {page: time_page(client, engine, page.format(id=app_id)) for page in PAGES}


def _run(engine: str, url: str) -> bool:
    db = Database(url)
    upgrade(db)
    now = time.time()
    with db.write() as conn:
        team = teams.ensure_team(conn, "Bench")
    user_id = viewer(db, team.id)
    small = _small_app(db, team.id, now)
    settings = load_settings({"database_url": url}, environ={})
    ok = True
    with TestClient(create_app(settings, db, run_maintenance=False)) as client:
        client.cookies.set(SESSION_COOKIE, create_session(db, user_id, time.time()))
        alone = _times(client, f"{engine}, small app alone", small)
        big = _many_consumers.load(db, team.id, now=now)
        if engine == "postgres":
            with db.write() as conn:
                conn.exec_driver_sql("ANALYZE")
        beside = _times(client, f"{engine}, small app beside 100k", small)
        hostile = _times(client, f"{engine}, 100k-consumer app", big)
    for page in PAGES:
        ratio = beside[page] / alone[page] if alone[page] else float("inf")
        print(
            f"[{engine}] {page:45s} small app {alone[page]:7.1f} -> {beside[page]:7.1f} ms"
            f" (ratio after/before {ratio:4.2f}); 100k app {hostile[page]:7.1f} ms"
            f" (ratio to {BUDGET_MS:.0f} ms {hostile[page] / BUDGET_MS:4.2f})",
            flush=True,
        )
        ok &= beside[page] < BUDGET_MS and hostile[page] < BUDGET_MS
    db.dispose()
    return ok


def run() -> bool:
    """Both engines (PostgreSQL if TALLYHUB_TEST_DATABASE_URL is set); True when every page met the budget."""
    ok = True
    tmp = tempfile.mkdtemp(prefix="tallyhub-hostile-")
    try:
        ok &= _run("sqlite", f"sqlite:///{Path(tmp) / 'hostile.sqlite3'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    pg = os.environ.get("TALLYHUB_TEST_DATABASE_URL", "")
    if pg:
        name = f"tallyhub_hostile_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            ok &= _run("postgres", sa.make_url(pg).set(database=name).render_as_string(hide_password=False))
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.dispose()
    return ok
