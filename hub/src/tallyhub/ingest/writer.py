"""Storing startup, sync and request-log payloads: each in one transaction, each at most once.

The payload's idempotency key goes into `received_messages` in the same transaction as its rows, so a
client's retry (or a concurrent duplicate: ON CONFLICT waits for the first writer) is acknowledged without
being counted again, and a payload that fails half-way leaves nothing behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from tallyhub.ingest import error_groups
from tallyhub.ingest.v2.models import RequestEntry, ServerErrorEntry, Startup, Sync, ValidationErrorEntry
from tallyhub.ingest.v2.request_log import RequestLogLine
from tallyhub.metrics.rows import COLUMNS, LevelAggregates
from tallyhub.storage import bulk, dimensions
from tallyhub.storage.apps import app_id_for_client_id, ensure_env
from tallyhub.storage.database import Database
from tallyhub.storage.dimensions import EndpointKey, IdCache, Pending, endpoint_key, natural_endpoint
from tallyhub.storage.tables import MINUTE, NO_ID, apps, metrics, received_messages, request_logs
from tallyhub.storage.upsert import insert_for, insert_ignore

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 3  # PostgreSQL may pick a payload's transaction as a deadlock victim; run it again
APP_CACHE_SECONDS = 30.0  # client IDs are looked up on every request; an app's deletion shows within this


class UnknownApp(Exception):
    """The app a payload was addressed to no longer exists."""


class Writer:
    """Stores payloads for one database, keeping the ids it resolved (they never change) in memory."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self.cache = IdCache()
        self._envs: dict[tuple[int, str], int] = {}
        self._apps: dict[str, tuple[int, float]] = {}

    def cached_app_id(self, client_id: str) -> int | None:
        """The app of a canonical client ID if this process looked it up lately (no I/O), else None."""
        hit = self._apps.get(client_id)
        return hit[0] if hit is not None and hit[1] > self.clock() else None

    def app_id(self, client_id: str) -> int | None:
        """The app of a canonical client ID, or None when there is none."""
        hit = self._apps.get(client_id)
        now = self.clock()
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.db.read() as conn:
            app_id = app_id_for_client_id(conn, client_id)
        if app_id is not None:
            self._apps[client_id] = (app_id, now + APP_CACHE_SECONDS)
        return app_id

    def store_startup(self, app_id: int, env: str, payload: Startup) -> bool:
        """Store a startup payload; False when it was stored before (a retry)."""
        now = self.clock()

        def write(conn: sa.Connection, pending: Pending, env_id: int) -> None:
            paths: dict[EndpointKey, str] = {}
            described: dict[EndpointKey, tuple[str | None, str | None]] = {}
            for p in payload.paths:
                if p.path:
                    key = endpoint_key(env_id, p.method, p.path)
                    paths.setdefault(key, p.path)
                    old = described.get(key, (None, None))
                    described[key] = (old[0] or p.summary, old[1] or p.description)
            dimensions.resolve_endpoints(conn, pending, env_id, paths, now)
            dimensions.mark_startup_endpoints(conn, pending, described)
            versions = dict(payload.versions)
            dimensions.upsert_instance(
                conn,
                env_id,
                payload.instance_uuid,
                {
                    "first_seen": now,
                    "client": payload.client,
                    "versions": versions,
                    "app_version": str(versions.get("app") or "")[:100] or None,
                    "last_startup_at": now,
                },
            )

        return self._once(app_id, env, "startup", payload.message_uuid, now, write)

    def store_sync(self, app_id: int, env: str, payload: Sync) -> bool:
        """Store a sync payload as minute rows, consumers, errors and instance state; False for a retry."""
        now = self.clock()
        at = payload.timestamp if payload.timestamp is not None else now
        bucket = int(at // MINUTE) * MINUTE
        # Everything that needs no database happens before the write transaction (on SQLite, before
        # taking the one write lock): summing the four levels and serialising histograms.
        entries: list[RequestEntry | ValidationErrorEntry | ServerErrorEntry] = [
            *payload.requests,
            *payload.validation_errors,
            *payload.server_errors,
        ]
        paths = {natural_endpoint(e.method, e.path): e.path for e in entries if e.path}
        identifiers = {e.consumer for e in entries if e.consumer}
        identifiers.update(c.identifier for c in payload.consumers if c.identifier)
        levels: LevelAggregates[tuple[str, str], str] = LevelAggregates()
        for r in payload.requests:
            levels.add(
                natural_endpoint(r.method, r.path) if r.path else None,
                r.consumer or None,
                r.status_code,
                r.request_count,
                r.request_size_sum,
                r.response_size_sum,
                r.response_times,
                r.request_sizes,
                r.response_sizes,
            )
        metric_values = levels.serialised()
        errors = [
            (
                error_groups.SERVER,
                e,
                error_groups.ErrorFields(e.type, e.msg, e.traceback, None),
                e.sentry_event_id,
            )
            for e in payload.server_errors
        ] + [
            (error_groups.VALIDATION, e, error_groups.ErrorFields(e.type, e.msg, None, tuple(e.loc)), None)
            for e in payload.validation_errors
        ]
        resources = payload.resources
        instance = {
            "first_seen": now,
            "last_sync_at": now,
            "cpu_percent": resources.cpu_percent if resources else None,
            "memory_rss": resources.memory_rss if resources else None,
        }

        def write(conn: sa.Connection, pending: Pending, env_id: int) -> None:
            dimensions.resolve_endpoints(
                conn, pending, env_id, {(env_id, *k): path for k, path in paths.items()}, now
            )
            dimensions.resolve_consumers(conn, pending, app_id, identifiers, at)
            dimensions.name_consumers(
                conn,
                pending,
                app_id,
                {c.identifier: (c.name, c.group) for c in payload.consumers if c.identifier},
            )
            dimensions.upsert_instance(conn, env_id, payload.instance_uuid, instance)

            def endpoint_id(endpoint: tuple[str, str] | None) -> int:
                return (pending.endpoint((env_id, *endpoint)) or NO_ID) if endpoint else NO_ID

            def consumer_id(identifier: str | None) -> int:
                return dimensions.consumer_id(pending, app_id, identifier)

            # Ids by natural key, looked up once per key rather than once per row.
            endpoint_ids: dict[tuple[str, str] | None, int] = {k: endpoint_id(k) for k in paths}
            endpoint_ids[None] = NO_ID
            consumer_ids: dict[str | None, int] = {i: consumer_id(i) for i in identifiers}
            consumer_ids[None] = NO_ID
            rows = [
                (env_id, MINUTE, bucket, level, endpoint_ids[ep], consumer_ids[cons], status, *values)
                for level, ep, cons, status, values in metric_values
            ]
            bulk.append(conn, metrics, COLUMNS, rows)
            counts = [
                error_groups.ErrorCount(
                    error_groups.ErrorKey(
                        kind, endpoint_id(natural_endpoint(e.method, e.path) if e.path else None), fields
                    ),
                    consumer_id(e.consumer),
                    e.error_count,
                    sentry,
                )
                for kind, e, fields, sentry in errors
            ]
            error_groups.store(conn, pending, env_id, bucket, at, counts)

        return self._once(app_id, env, "sync", payload.message_uuid, now, write)

    def store_request_logs(
        self, app_id: int, env: str, file_uuid: str, lines: Sequence[RequestLogLine]
    ) -> bool:
        """Store one request-log file's lines; False when the file was stored before."""
        now = self.clock()

        def write(conn: sa.Connection, pending: Pending, env_id: int) -> None:
            if not lines:
                return
            paths = {
                endpoint_key(env_id, ln.request.method, ln.request.path): ln.request.path
                for ln in lines
                if ln.request.path
            }
            dimensions.resolve_endpoints(conn, pending, env_id, paths, now)
            identifiers = {ln.request.consumer for ln in lines if ln.request.consumer}
            latest = max(ln.request.timestamp for ln in lines)
            dimensions.resolve_consumers(conn, pending, app_id, identifiers, latest)
            rows = []
            for ln in lines:
                req, resp = ln.request, ln.response
                rows.append(
                    {
                        "env_id": env_id,
                        "uuid": ln.uuid,
                        "timestamp": req.timestamp,
                        "method": req.method.upper(),
                        "path": req.path,
                        "endpoint_id": pending.endpoint(endpoint_key(env_id, req.method, req.path))
                        if req.path
                        else None,
                        "url": req.url,
                        "status_code": resp.status_code,
                        "response_time": resp.response_time,
                        "consumer_id": dimensions.consumer_id(pending, app_id, req.consumer) or None,
                        "request_size": req.size,
                        "response_size": resp.size,
                        "trace_id": ln.trace_id,
                        "details": ln.details(),
                    }
                )
            insert_ignore(conn, request_logs, rows, ["env_id", "uuid"])

        return self._once(app_id, env, "log", file_uuid, now, write)

    def _once(
        self,
        app_id: int,
        env: str,
        kind: str,
        message_uuid: str,
        now: float,
        write: Callable[[sa.Connection, Pending, int], None],
    ) -> bool:
        """Run `write` in one transaction unless the message was received before; retry lost races."""
        for attempt in range(1, ATTEMPTS + 1):
            pending = Pending(self.cache)
            try:
                with self.db.write() as conn:
                    if not _first_receipt(conn, app_id, kind, message_uuid, now):
                        return False
                    env_id = self._env_id(conn, app_id, env)
                    write(conn, pending, env_id)
            except (IntegrityError, DBAPIError) as exc:
                if isinstance(exc, IntegrityError) and not self._app_exists(app_id):
                    # Deleted (or its client ID rotated) while this process still had it cached.
                    self._apps = {k: v for k, v in self._apps.items() if v[0] != app_id}
                    raise UnknownApp(app_id) from None
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise
                # A stale cached id (a row deleted meanwhile) or a lost race: start from the database.
                log.info("retrying %s %s after %s", kind, message_uuid, type(exc.orig).__name__)
                self.cache.clear()
                self._envs.clear()
                continue
            pending.commit()
            self._envs[(app_id, env)] = env_id
            return True
        raise AssertionError("unreachable")

    def _app_exists(self, app_id: int) -> bool:
        with self.db.read() as conn:
            return conn.execute(sa.select(apps.c.id).where(apps.c.id == app_id)).first() is not None

    def _env_id(self, conn: sa.Connection, app_id: int, env: str) -> int:
        return self._envs.get((app_id, env)) or ensure_env(conn, app_id, env)


def _first_receipt(conn: sa.Connection, app_id: int, kind: str, message_uuid: str, now: float) -> bool:
    """Record a message as received; False when it was (a concurrent duplicate waits for the first).

    RETURNING tells whether the row was inserted: the driver's rowcount is not reliable for
    INSERT ... ON CONFLICT DO NOTHING on PostgreSQL (psycopg reports -1).
    """
    stmt = (
        insert_for(conn, received_messages)
        .values(app_id=app_id, kind=kind, uuid=message_uuid, received_at=now)
        .on_conflict_do_nothing(index_elements=["app_id", "kind", "uuid"])
        .returning(received_messages.c.uuid)
    )
    return conn.execute(stmt).first() is not None


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError) or exc.connection_invalidated:
        return True  # a lost race, or a pooled connection that died (the pool is renewed): run again
    code = getattr(exc.orig, "sqlstate", None)
    return code in {"40001", "40P01"}  # serialization failure, deadlock detected
