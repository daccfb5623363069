"""The application factory: one FastAPI app serving ingestion (/v2) and the read API (/api/v1)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tallyhub.accounts.password_gate import PasswordGate
from tallyhub.alerts import retention as alert_retention
from tallyhub.alerts.scheduler import AlertScheduler
from tallyhub.api.alert_routes import router as alert_api_router
from tallyhub.api.channel_routes import router as channel_api_router
from tallyhub.api.endpoint_settings_routes import router as endpoint_settings_api_router
from tallyhub.api.routes import router as api_router
from tallyhub.api.saved_view_routes import router as saved_view_api_router
from tallyhub.api.uptime_routes import router as uptime_api_router
from tallyhub.ingest import retention as ingest_retention
from tallyhub.ingest.otlp.routes import router as otlp_router
from tallyhub.ingest.v2.routes import SyncShortcut
from tallyhub.ingest.v2.routes import router as ingest_router
from tallyhub.jobs.maintenance import Jobs, Maintenance
from tallyhub.metrics import resources, rollup
from tallyhub.metrics import retention as metric_retention
from tallyhub.outbound.policy import Policy
from tallyhub.outbound.pool import TeamPool
from tallyhub.settings import Settings, load_settings
from tallyhub.storage import partitions
from tallyhub.storage.database import Database
from tallyhub.uptime import retention as uptime_retention
from tallyhub.uptime.monitor import UptimeMonitor
from tallyhub.web import install as install_dashboard


def run_retention(db: Database, settings: Settings, now: float) -> int:
    """Delete every row past its retention setting, package by package; returns how many went."""
    runs = (metric_retention.run, ingest_retention.run, uptime_retention.run, alert_retention.run)
    return sum(run(db, settings, now) for run in runs)


def run_rollup(db: Database, settings: Settings, now: float) -> int:
    """Roll closed minutes into hours and days: the metric rows, then instances' resources."""
    return rollup.run(db, settings, now) + resources.roll(db, settings, now)


def run_partitions(db: Database, settings: Settings, now: float) -> int:
    """Create PostgreSQL's metric and log partitions ahead of the clock (none on SQLite); returns how many."""
    return partitions.create_ahead(db, now)


# Partitions first: the rollup's hour and day rows then land in their slices, not in a default.
MAINTENANCE_JOBS: Jobs = (
    ("partitions", run_partitions),
    ("rollup", run_rollup),
    ("retention", run_retention),
)


def create_app(settings: Settings, db: Database | None = None, run_maintenance: bool = True) -> FastAPI:
    """Build the hub. The database must be migrated already (the CLI does so on `serve`)."""
    database = db or Database(settings.resolved_database_url)
    maintenance = Maintenance(database, settings, MAINTENANCE_JOBS)
    # Outbound calls run in bounded pools where a team holds at most its share (no shared stalls).
    check_pool = TeamPool("checks", settings.check_workers, settings.outbound_team_share)
    delivery_pool = TeamPool("deliveries", settings.delivery_workers, settings.outbound_team_share)
    uptime_monitor = UptimeMonitor(database, settings, pool=check_pool)
    alerts = AlertScheduler(database, settings, pool=delivery_pool)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if run_maintenance:
            maintenance.start()
            uptime_monitor.start()
            alerts.start()
        try:
            yield
        finally:
            alerts.stop()
            uptime_monitor.stop()
            maintenance.stop()
            check_pool.shutdown()
            delivery_pool.shutdown()
            if db is None:
                database.dispose()

    app = FastAPI(
        title="Tallyhub",
        version="1",
        summary="Read API of Tallyhub, self-hosted API monitoring and analytics.",
        openapi_url="/api/v1/openapi.json",
        # The docs page is the dashboard's (web/routes/api_docs.py): Swagger UI from the hub's own
        # static files under the CSP, not FastAPI's page with a CDN and an inline script.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
    )
    app.state.db = database
    app.state.settings = settings
    app.state.maintenance = maintenance
    app.state.uptime_monitor = uptime_monitor
    app.state.alerts = alerts
    app.state.outbound_policy = Policy.from_settings(settings)
    app.state.check_pool = check_pool
    app.state.delivery_pool = delivery_pool
    app.state.password_gate = PasswordGate(settings.max_password_checks, settings.password_check_wait_seconds)
    app.include_router(ingest_router)
    app.include_router(otlp_router)
    app.include_router(api_router)
    app.include_router(uptime_api_router)
    app.include_router(alert_api_router)
    app.include_router(channel_api_router)
    app.include_router(endpoint_settings_api_router)
    app.include_router(saved_view_api_router)
    # Before the dashboard's middlewares, so that it sits inside them (compression, security headers).
    app.add_middleware(SyncShortcut)
    install_dashboard(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_app_from_environment() -> FastAPI:
    """The hub configured by TALLYHUB_* variables: what each process of `tallyhub serve --workers N` runs."""
    app = create_app(load_settings())
    tune_gc_for_serving()
    return app


# A sync or an OTLP export allocates tens of thousands of short-lived objects. At the default
# young-generation threshold (700) the collector runs dozens of times per request and, whenever it
# reaches the older generations, walks every long-lived object (modules, the app, caches).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc_for_serving() -> None:
    """Freeze what exists after start-up (out of every later collection) and let a request's garbage
    die by reference counting before a collection starts. Call once, before serving."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
