"""Storing batches (ingest/batch.py, whichever protocol they came by): each whole or not at all, at most once.

The batch's idempotency key goes into `received_messages` in the same transaction as its rows, so a
client's retry (or a concurrent duplicate: ON CONFLICT waits for the first writer) is acknowledged without
being counted again, and a payload that fails half-way leaves nothing behind.

Group commit: the batches that arrive while a write transaction runs are stored together in the next one
(ingest.group_commit), each with its own receipt, their minute rows summed by key (metrics.writes): most
of a sync's cost is its metric rows, their index entries and the commit, so N concurrent syncs of an app
cost about one. `store` returns only once its batch is committed. Should a group's transaction fail, its
batches are stored again one by one, so that one bad batch fails alone. The statements a group costs do
not grow with its batches where they need not: its receipts are one INSERT, its instance writes one per
kind at its end (ingest.instance_writes); on PostgreSQL each statement is a round trip that the group's
transaction, and every batch waiting in it, waits for.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from tallyhub.identifiers import OTHER_ENV
from tallyhub.ingest import error_groups, log_records, request_logs, request_sources, trace_items
from tallyhub.ingest.batch import (
    Batch,
    CumulativePoint,
    Instance,
    RequestMetrics,
    ServerError,
    ValidationError,
)
from tallyhub.ingest.exclusions import kept, without_excluded
from tallyhub.ingest.group_commit import GroupCommit, Job
from tallyhub.ingest.instance_writes import InstanceWrites
from tallyhub.ingest.log_budget import LogBudget
from tallyhub.metrics import streams
from tallyhub.metrics.writes import MinuteRows, MinuteRowsGroup
from tallyhub.storage import caps, dimensions, endpoint_settings
from tallyhub.storage.apps import app_id_for_client_id, ensure_env, env_id_for
from tallyhub.storage.caps import Caps
from tallyhub.storage.database import Database
from tallyhub.storage.dimensions import IdCache, NaturalEndpoint, Pending, natural_endpoint
from tallyhub.storage.tables import MINUTE, NO_ID, apps, received_messages

log = logging.getLogger(__name__)

Described = tuple[str | None, str | None]  # an endpoint's summary and description


class Transaction:
    """What the batches stored in one transaction share: their minute rows, instance writes and each app's
    exclusions. The rows and instance writes are made together by `flush`."""

    def __init__(self) -> None:
        self.minute_rows = MinuteRowsGroup()
        self.instances = InstanceWrites()
        self._excluded: dict[int, frozenset[NaturalEndpoint]] = {}

    def flush(self, conn: sa.Connection) -> None:
        """Write the instance writes and minute rows added so far (the instances' hot rows first, in key
        order, as every transaction takes them)."""
        self.instances.write(conn)
        self.minute_rows.append(conn)

    def excluded(self, conn: sa.Connection, app_id: int) -> frozenset[NaturalEndpoint]:
        """The app's excluded endpoints as this transaction reads them (once per app)."""
        found = self._excluded.get(app_id)
        if found is None:
            found = self._excluded[app_id] = endpoint_settings.excluded(conn, app_id)
        return found


Write = Callable[[sa.Connection, Pending, int, Transaction], None]


@dataclasses.dataclass(slots=True)
class Payload:
    """A batch to store at most once under (`kind`, `key`), prepared as `write`."""

    app_id: int
    env: str
    kind: str
    key: str
    now: float
    write: Write


ATTEMPTS = 3  # PostgreSQL may pick a payload's transaction as a deadlock victim; run it again
RECEIPT_COLUMNS = ("app_id", "kind", "uuid", "received_at")
APP_CACHE_SECONDS = 30.0  # client IDs are looked up on every request; an app's deletion shows within this
# Bytes of a payload's parts parsed before its transaction opens, so that other payloads don't wait on the
# write lock (SQLite has one) while it parses: most log files fit whole; a larger one goes on parsing inside.
PRELOAD_BYTES = 4_000_000
# A group transaction holds at most this many payloads and (roughly estimated) bytes of them: bounded so
# that its rows, and the time the others wait for it, stay bounded too.
GROUP_PAYLOADS = 16
GROUP_BYTES = 4_000_000
ENTRY_BYTES = 200  # what an entry (request key, error, consumer, span) counts toward GROUP_BYTES
Part = tuple[Batch, int]  # a batch of a payload's request logs and their bytes
Parts = Callable[[], Iterable[Part]]


class UnknownApp(Exception):
    """The app a payload was addressed to no longer exists."""


class Writer:
    """Stores batches for one database, keeping the ids it resolved (they never change) in memory.

    New consumers, endpoints and environments past an app's `limits` go to its "other" buckets.
    """

    def __init__(
        self, db: Database, clock: Callable[[], float] = time.time, limits: Caps | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.caps = limits or Caps()
        self.cache = IdCache()
        self._envs: dict[tuple[int, str], int] = {}
        self._apps: dict[str, tuple[int, float]] = {}
        # The excluded endpoints this process read last per app: what `store` prepares batches for.
        self._exclusions: dict[int, frozenset[NaturalEndpoint]] = {}
        self._groups: GroupCommit[Payload] = GroupCommit(self._store_group, GROUP_PAYLOADS, GROUP_BYTES)

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

    def store(self, app_id: int, env: str, batch: Batch) -> bool:
        """Store everything a batch holds in one transaction; False when it was stored before (a retry).

        That transaction may be shared with batches that other threads store meanwhile (group commit);
        this returns once it is committed. The app's excluded endpoints are read inside it (an exclusion
        holds from the moment it is saved, in every hub process). The batch is prepared before it,
        outside SQLite's write lock, for the set this process read last; only when the set read differs
        is it prepared again, inside the transaction.
        """
        now = self.clock()
        assumed = self._exclusions.get(app_id, frozenset())
        prepared = self._writes(app_id, batch, now, assumed)

        def write(conn: sa.Connection, pending: Pending, env_id: int, tx: Transaction) -> None:
            excluded = tx.excluded(conn, app_id)
            self._exclusions[app_id] = excluded
            if excluded == assumed:
                prepared(conn, pending, env_id, tx)
            else:
                self._writes(app_id, batch, now, excluded)(conn, pending, env_id, tx)

        payload = Payload(app_id, env, batch.kind, batch.key, now, write)
        return self._groups.submit(payload, _approximate_bytes(batch))

    def store_parts(
        self,
        app_id: int,
        env: str,
        kind: str,
        key: str,
        parts: Parts,
        budget: LogBudget,
    ) -> bool:
        """Store a payload too large to hold at once, part by part, in one transaction, at most once.

        `parts()` yields (batch, bytes of request logs it holds) and may raise to refuse the payload;
        its first PRELOAD_BYTES are parsed before the transaction opens, and it is called again if the
        transaction is retried. The payload is refused with OverBudget (and nothing stored) as soon as
        its bytes pass what the app's budget allows.
        """
        now = self.clock()
        source = _preloaded(parts, PRELOAD_BYTES)

        def write(conn: sa.Connection, pending: Pending, env_id: int, tx: Transaction) -> None:
            excluded = tx.excluded(conn, app_id)  # read in the transaction, as in `store`
            allowance = budget.allowance(conn, app_id, now)
            total = 0
            for batch, size in source():
                total += size
                if allowance is not None and total > allowance:
                    raise budget.exceeded(now)
                self._writes(app_id, batch, now, excluded)(conn, pending, env_id, tx)
                tx.flush(conn)  # part by part: memory stays bounded by a part
            budget.charge(conn, app_id, total, now)

        # Alone, not in a group: a large payload whose transaction must not hold up the syncs of others.
        return self._alone(Payload(app_id, env, kind, key, now, write))

    def _writes(self, app_id: int, batch: Batch, now: float, excluded: frozenset[NaturalEndpoint]) -> Write:
        """Storing `batch`, prepared: the function returned writes it in the transaction it is given.

        What it holds of `excluded` endpoints is left out (ingest.exclusions).
        """
        batch = without_excluded(batch, excluded)
        # Everything that needs no database happens before the write transaction (on SQLite, before
        # taking the one write lock): collecting natural keys, summing metric levels, serialising.
        paths, described = _endpoints(batch)
        identifiers = {e.consumer for e in _counted(batch) if e.consumer}
        identifiers.update(c.identifier for c in batch.consumers if c.identifier)
        identifiers.update(log.consumer for log in batch.request_logs if log.consumer)
        labels = {c.identifier: (c.name, c.group) for c in batch.consumers if c.identifier}
        attributes: dict[str, dict[str, str | None]] = {}
        for c in batch.consumers:
            if c.identifier and c.attributes:  # later changes of one consumer win, key by key
                attributes.setdefault(c.identifier, {}).update(c.attributes)
        seen_at = _latest(batch, now)
        minute_rows = MinuteRows(batch.requests, now)
        items = trace_items.serialise(batch.trace_items)
        records = log_records.serialise(batch)
        sourced = [
            (s.instance, s.source, MinuteRows(s.requests, now), s.cumulative) for s in batch.sourced_requests
        ]
        errors = [
            (
                error_groups.SERVER,
                e,
                error_groups.ErrorFields(e.type, e.msg, e.traceback, None),
                e.sentry_event_id,
            )
            for e in batch.server_errors
        ] + [
            (error_groups.VALIDATION, e, error_groups.ErrorFields(e.type, e.msg, None, e.loc), None)
            for e in batch.validation_errors
        ]
        # An instance the batch only names has nothing to store.
        instances = [(i.uuid, _instance_columns(i, now)) for i in batch.instances if i.startup or i.heartbeat]
        # CPU and memory over time: a sample per report, dated when measured (metrics.resources).
        samples = [
            (now if i.at is None else i.at, i.uuid, i.cpu_percent, i.memory_rss)
            for i in batch.instances
            if i.heartbeat
        ]
        described_instances = [
            (i.uuid, i.client, i.versions)
            for i in batch.instances
            if not i.startup and (i.client or i.versions)
        ]

        def write(conn: sa.Connection, pending: Pending, env_id: int, tx: Transaction) -> None:
            env_paths = {(env_id, *k): path for k, path in paths.items()}
            # Locked before any row of this transaction, so that writers adding keys take it in one order.
            if pending.has_uncached(env_paths, [(app_id, i) for i in identifiers]):
                caps.lock_app(conn, app_id)
            dimensions.resolve_endpoints(
                conn, pending, env_id, env_paths, now, app_id=app_id, cap=self.caps.endpoints
            )
            dimensions.mark_startup_endpoints(
                conn, pending, {(env_id, *k): texts for k, texts in described.items()}
            )
            dimensions.resolve_consumers(
                conn, pending, app_id, identifiers, seen_at, cap=self.caps.consumers, now=now
            )
            dimensions.name_consumers(conn, pending, app_id, labels)
            dimensions.set_consumer_attributes(conn, pending, app_id, attributes)
            for instance_uuid, columns in instances:
                tx.instances.upsert(env_id, instance_uuid, columns)
            tx.instances.sample(env_id, samples)
            # Ids by natural key, looked up once per key rather than once per row.
            endpoint_ids = {k: pending.endpoint((env_id, *k)) or NO_ID for k in paths}
            consumer_ids = {i: dimensions.consumer_id(pending, app_id, i) for i in identifiers}
            tx.minute_rows.add(minute_rows, env_id, endpoint_ids, consumer_ids)
            counting = request_sources.claim(conn, env_id, {(i, src) for i, src, _, _ in sourced}, now)
            for instance, source, rows, points in sourced:
                if counting[instance] == source:
                    tx.minute_rows.add(rows, env_id, endpoint_ids, consumer_ids)
                    if points:
                        deltas = kept(streams.deltas(conn, env_id, points, now), excluded)
                        tx.minute_rows.add(MinuteRows(deltas, now), env_id, endpoint_ids, consumer_ids)
            if batch.cumulative:
                # The deltas depend on the stored totals: computed inside the transaction that moves them.
                deltas = kept(streams.deltas(conn, env_id, batch.cumulative, now), excluded)
                tx.minute_rows.add(MinuteRows(deltas, now), env_id, endpoint_ids, consumer_ids)
            for instance_uuid, client, versions in described_instances:
                tx.instances.describe(env_id, instance_uuid, client, versions)
            counts = [
                error_groups.ErrorCount(
                    error_groups.ErrorKey(
                        kind, endpoint_ids[natural_endpoint(e.method, e.path)] if e.path else NO_ID, fields
                    ),
                    _minute(now if e.at is None else e.at),
                    consumer_ids[e.consumer] if e.consumer else NO_ID,
                    e.count,
                    sentry,
                )
                for kind, e, fields, sentry in errors
            ]
            error_groups.store(conn, pending, env_id, seen_at, counts)
            known = log_records.known_requests(conn, env_id, records)
            request_logs.store(conn, env_id, batch.request_logs, endpoint_ids, consumer_ids)
            trace_items.append(conn, env_id, items)
            log_records.append(conn, env_id, records, known)

        return write

    def _store_group(self, jobs: list[Job[Payload]]) -> None:
        """Store a group's payloads in one transaction; if it fails, each on its own (one fails alone)."""
        if len(jobs) > 1:
            try:
                outcomes = self._transaction([job.item for job in jobs])
            except Exception as exc:
                log.info("a group of %d payloads failed (%s); storing them one by one", len(jobs), exc)
            else:
                for job, outcome in zip(jobs, outcomes, strict=True):
                    job.outcome = outcome
                return
        for job in jobs:
            try:
                job.outcome = self._alone(job.item)
            except Exception as exc:
                job.error = exc

    def _alone(self, payload: Payload) -> bool:
        """Store one payload in a transaction of its own; False when it was received before."""
        try:
            (outcome,) = self._transaction([payload])
        except IntegrityError:
            if not self._app_exists(payload.app_id):
                # Deleted (or its client ID rotated) while this process still had it cached.
                self._apps = {k: v for k, v in self._apps.items() if v[0] != payload.app_id}
                raise UnknownApp(payload.app_id) from None
            raise
        return outcome

    def _transaction(self, payloads: list[Payload]) -> list[bool]:
        """Store the payloads not received before in one transaction, retrying lost races; which were new."""
        for attempt in range(1, ATTEMPTS + 1):
            pending = Pending(cache=self.cache)
            tx = Transaction()
            envs: list[tuple[int, bool] | None] = []
            try:
                with self.db.write() as conn:
                    for p, first in zip(payloads, _first_receipts(conn, payloads), strict=True):
                        if not first:
                            envs.append(None)
                            continue
                        env_id, real_env = self._env_id(conn, p.app_id, p.env, p.now)
                        p.write(conn, pending, env_id, tx)
                        envs.append((env_id, real_env))
                    tx.flush(conn)
            except (IntegrityError, DBAPIError) as exc:
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise
                # A stale cached id (a row deleted meanwhile) or a lost race: start from the database.
                log.info("retrying %d payload(s) after %s", len(payloads), type(exc.orig).__name__)
                self.cache.clear()
                self._envs.clear()
                continue
            pending.commit()
            for p, stored in zip(payloads, envs, strict=True):
                if stored is not None and stored[1]:  # an env past the cap is looked up again next time
                    self._envs[(p.app_id, p.env)] = stored[0]
            return [stored is not None for stored in envs]
        raise AssertionError("unreachable")

    def _app_exists(self, app_id: int) -> bool:
        with self.db.read() as conn:
            return conn.execute(sa.select(apps.c.id).where(apps.c.id == app_id)).first() is not None

    def _env_id(self, conn: sa.Connection, app_id: int, env: str, now: float) -> tuple[int, bool]:
        """The id of the app's env (created if the cap allows) or of its "other" env; True for the first."""
        cached = self._envs.get((app_id, env))
        if cached is not None:
            return cached, True
        found = env_id_for(conn, app_id, env)
        if found is not None:
            return found, True
        caps.lock_app(conn, app_id)
        if caps.env_count(conn, app_id) < self.caps.envs:
            return ensure_env(conn, app_id, env), True
        caps.record_hit(conn, app_id, caps.ENVS, now)
        return ensure_env(conn, app_id, OTHER_ENV), False


def _preloaded(parts: Parts, limit: int) -> Parts:
    """`parts` with its parts up to `limit` bytes parsed now; each call of the result gives them all.

    A payload parsed whole is kept for a retry; otherwise the first call goes on from where the parse
    stopped (releasing each part once given), and a retry parses again from the start. A payload that
    fails to parse is parsed again in the transaction, so that a client's retry of one already stored is
    acknowledged first, as before.
    """
    started = iter(parts())
    head: deque[Part] = deque()
    size = 0
    try:
        for part in started:
            head.append(part)
            size += part[1]
            if size >= limit:
                break
        else:
            return lambda: head
    except Exception:
        return parts
    first: deque[Iterator[Part]] = deque([_draining(head, started)])
    return lambda: first.popleft() if first else parts()


def _draining(
    head: deque[tuple[Batch, int]], rest: Iterator[tuple[Batch, int]]
) -> Iterator[tuple[Batch, int]]:
    while head:
        yield head.popleft()
    yield from rest


def _approximate_bytes(batch: Batch) -> int:
    """What a batch counts toward a group's GROUP_BYTES: a rough size, cheap to tell."""
    entries = (
        len(batch.requests)
        + len(batch.server_errors)
        + len(batch.validation_errors)
        + len(batch.consumers)
        + len(batch.trace_items)
        + len(batch.cumulative)
        + sum(len(s.requests) + len(s.cumulative) for s in batch.sourced_requests)
    )
    logged = sum(
        ENTRY_BYTES + len(log.request_body or "") + len(log.response_body or "") for log in batch.request_logs
    )
    return ENTRY_BYTES * entries + logged


def _counted(batch: Batch) -> list[RequestMetrics | ServerError | ValidationError | CumulativePoint]:
    """The entries that count requests at an endpoint by a consumer."""
    sourced: list[RequestMetrics | CumulativePoint] = []
    for s in batch.sourced_requests:
        sourced.extend(s.requests)
        sourced.extend(s.cumulative)
    return [*batch.requests, *sourced, *batch.server_errors, *batch.validation_errors, *batch.cumulative]


def _endpoints(batch: Batch) -> tuple[dict[NaturalEndpoint, str], dict[NaturalEndpoint, Described]]:
    """The path (as spelt) of every endpoint a batch names, and what its startups say of the endpoints."""
    paths: dict[NaturalEndpoint, str] = {}
    described: dict[NaturalEndpoint, Described] = {}
    for startup in (i.startup for i in batch.instances if i.startup):
        for p in startup.endpoints:
            if p.path:
                # A route may be declared twice (two spellings of one key): the first of each counts.
                key = natural_endpoint(p.method, p.path)
                paths.setdefault(key, p.path)
                old = described.get(key, (None, None))
                described[key] = (old[0] or p.summary, old[1] or p.description)
    paths.update((natural_endpoint(e.method, e.path), e.path) for e in _counted(batch) if e.path)
    paths.update((natural_endpoint(log.method, log.path), log.path) for log in batch.request_logs if log.path)
    return paths, described


def _latest(batch: Batch, now: float) -> float:
    """When the batch saw its consumers and errors last: the latest time it holds."""
    times = [now if e.at is None else e.at for e in (*_counted(batch), *batch.consumers)]
    times.extend(log.timestamp for log in batch.request_logs)
    return max(times, default=now)


def _minute(at: float) -> int:
    return int(at // MINUTE) * MINUTE


def _instance_columns(instance: Instance, now: float) -> dict[str, Any]:
    """The instance columns a batch sets; None keeps what is stored."""
    columns: dict[str, Any] = {"first_seen": now}
    if startup := instance.startup:
        columns.update(
            client=startup.client,
            versions=startup.versions,
            app_version=startup.app_version,
            last_startup_at=now,
        )
    if instance.heartbeat:
        columns.update(last_sync_at=now, cpu_percent=instance.cpu_percent, memory_rss=instance.memory_rss)
    return columns


def _first_receipts(conn: sa.Connection, payloads: list[Payload]) -> list[bool]:
    """Record the payloads as received, in one statement; False for each one that was (before, or earlier
    in `payloads`). A concurrent duplicate waits for the transaction that has it to end.

    RETURNING tells which rows were inserted: the driver's rowcount is not reliable for
    INSERT ... ON CONFLICT DO NOTHING on PostgreSQL (psycopg reports -1).
    """
    # Distinct keys in key order: two groups that share receipts (retries) then wait in one order.
    received = {(p.app_id, p.kind, p.key): p.now for p in reversed(payloads)}  # the first one's time
    keys = sorted(received)
    values = {
        f"{column}_{i}": value
        for i, key in enumerate(keys)
        for column, value in zip(RECEIPT_COLUMNS, (*key, received[key]), strict=True)
    }
    inserted = {tuple(row) for row in conn.execute(_receipts(conn.dialect.name, len(keys)), values)}
    first = []
    for p in payloads:
        key = (p.app_id, p.kind, p.key)
        first.append(key in inserted)
        inserted.discard(key)  # a duplicate later in the group is a retry
    return first


@functools.cache
def _receipts(dialect: str, count: int) -> Any:
    # Built once per engine and row count: constructing the statement cost more than running it.
    stmt = (
        postgresql.insert(received_messages) if dialect == "postgresql" else sqlite.insert(received_messages)
    )
    rows = [
        {c: sa.bindparam(f"{c}_{i}", type_=received_messages.c[c].type) for c in RECEIPT_COLUMNS}
        for i in range(count)
    ]
    c = received_messages.c
    return (
        stmt.values(rows)
        .on_conflict_do_nothing(index_elements=["app_id", "kind", "uuid"])
        .returning(c.app_id, c.kind, c.uuid)
    )


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError) or exc.connection_invalidated:
        return True  # a lost race, or a pooled connection that died (the pool is renewed): run again
    code = getattr(exc.orig, "sqlstate", None)
    return code in {"40001", "40P01"}  # serialization failure, deadlock detected
