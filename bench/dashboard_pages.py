"""Dashboard page server times on the 30-day benchmark data set (bench/queries.py's, >= 10M requests).

Target (issue #4): every page renders in under 300 ms. Each page is fetched as a signed-in user over
the ASGI app (the full route: access check, filters, analytics, template) for the 24 h, 7 d and 30 d
presets; prints the median of 5 runs after one warm-up, its ratio to the budget, and the HTML size
(as sent: gzip-compressed).
SQLite, then PostgreSQL when TALLYHUB_TEST_DATABASE_URL is set.

Environment as for bench.queries: BENCH_QUERIES_REQUESTS (default 10,000,000) scales the data set,
BENCH_QUERIES_LOADER=direct writes it straight into the tables (faster) instead of through ingestion,
BENCH_QUERIES_KEEP=1 keeps the databases and reuses them on the next run (either benchmark's),
BENCH_QUERIES_ENGINES picks engines.
"""

from __future__ import annotations

import statistics
import sys
import time

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tallyhub.accounts import teams, users
from tallyhub.accounts.sessions import create_session
from tallyhub.app import create_app
from tallyhub.settings import load_settings
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import apps
from tallyhub.web.security import SESSION_COOKIE

from bench import _dataset
from bench.queries import BUDGET_MS, bench_app, on_every_engine

PAGES = (
    "/apps",
    "/apps/{id}/traffic",
    "/apps/{id}/errors",
    "/apps/{id}/performance",
    "/apps/{id}/data-transferred",
    "/apps/{id}/endpoints",
    "/apps/{id}/endpoints/detail?path=/resource3",
    "/apps/{id}/consumers",
    "/apps/{id}/consumers/groups",
    "/apps/{id}/consumers/detail?consumer=consumer-7",
    "/apps/{id}/instances",
)
PERIODS = ("24h", "7d", "30d")


def bench(engine: str, url: str, spec: _dataset.Spec) -> bool:
    db = Database(url)
    upgrade(db)
    with db.write() as conn:
        team = teams.ensure_team(conn, "Bench")
    app_id = bench_app(engine, db, spec, team_id=team.id)
    with db.write() as conn:
        team_id = conn.execute(sa.select(apps.c.team_id).where(apps.c.id == app_id)).scalar_one()
        user = users.user_by_email(conn, "bench@example.com") or users.create_user(
            conn, "bench@example.com", users.hash_password("bench password 1")
        )
        teams.set_role(conn, user.id, team_id, "viewer")
    settings = load_settings({"database_url": url}, environ={})
    ok = True
    with TestClient(create_app(settings, db, run_maintenance=False)) as client:
        client.cookies.set(SESSION_COOKIE, create_session(db, user.id, time.time()))
        for page in PAGES:
            for period in PERIODS:
                path = page.format(id=app_id)
                target = f"{path}{'&' if '?' in path else '?'}period={period}"
                response = client.get(target)
                assert response.status_code == 200, (target, response.text[:300])
                runs = []
                for _ in range(5):
                    began = time.perf_counter()
                    response = client.get(target)
                    runs.append((time.perf_counter() - began) * 1000)
                median = statistics.median(runs)
                ok &= median < BUDGET_MS
                verdict = "OK" if median < BUDGET_MS else "OVER BUDGET"
                print(
                    f"[{engine}] {target:60s} median {median:7.1f} ms  max {max(runs):7.1f}"
                    f"  ratio to {BUDGET_MS:.0f} ms budget {median / BUDGET_MS:5.2f}"
                    f"  {verdict}  html {len(response.content) / 1000:.0f} KB"
                    f" ({response.num_bytes_downloaded / 1000:.0f} KB gzipped)",
                    flush=True,
                )
    db.dispose()
    return ok


def main() -> int:
    return on_every_engine(bench)


if __name__ == "__main__":
    sys.exit(main())
