"""Endpoints, consumers and instances: looked up or created by their natural keys, ids cached per process.

Rows are inserted with ON CONFLICT DO NOTHING and then read back, in key order so that concurrent writers
on PostgreSQL lock the same rows in the same order (no deadlock). Ids found or created inside a
transaction are only cached once it commits (`Pending.commit`), since a rollback takes new rows with it.
Past the app's cap (storage.caps) a new endpoint or consumer gets the id of the "other" bucket, which
is never cached: the key is looked up again next time, so raising a cap admits it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tallyhub.paths import path_key
from tallyhub.storage import caps
from tallyhub.storage.tables import NO_ID, consumers, endpoints, instances
from tallyhub.storage.upsert import insert_ignore

# A consumer's last_seen is rewritten at most this often per process: it is a hot row on every sync.
LAST_SEEN_RESOLUTION = 60.0
_CHUNK = 500  # keys per IN (...) lookup: far below both engines' bound-parameter limits

EndpointKey = tuple[int, str, str]  # env_id, METHOD, path_key
NaturalEndpoint = tuple[str, str]  # METHOD, path_key: an endpoint within an env
ConsumerKey = tuple[int, str]  # app_id, identifier
ErrorGroupKey = tuple[int, str, int, str]  # env_id, kind, endpoint_id, fingerprint
Labels = tuple[str | None, str | None]  # name, group as a client sent them


@functools.lru_cache(maxsize=65536)
def _path_key(path: str) -> str:
    # Every sync names the same few hundred route templates: remember their keys (a regex substitution).
    return path_key(path)[:1000]  # the column's bound; a key can be longer than its path ("/*")


@dataclasses.dataclass
class IdCache:
    """Ids by natural key, and the last_seen this process last wrote per consumer id."""

    endpoints: dict[EndpointKey, int] = dataclasses.field(default_factory=dict)
    consumers: dict[ConsumerKey, int] = dataclasses.field(default_factory=dict)
    last_seen: dict[int, float] = dataclasses.field(default_factory=dict)
    labels: dict[int, Labels] = dataclasses.field(default_factory=dict)
    error_groups: dict[ErrorGroupKey, int] = dataclasses.field(default_factory=dict)
    error_seen: dict[int, float] = dataclasses.field(default_factory=dict)

    def clear(self) -> None:
        for field in dataclasses.fields(self):
            getattr(self, field.name).clear()


@dataclasses.dataclass
class Pending(IdCache):
    """What one transaction learnt (the same maps as the cache); merged into it only after it commits."""

    cache: IdCache = dataclasses.field(kw_only=True)
    # Keys past a cap, with the id of their "other" bucket: for this transaction only.
    other_endpoints: dict[EndpointKey, int] = dataclasses.field(default_factory=dict)
    other_consumers: dict[ConsumerKey, int] = dataclasses.field(default_factory=dict)

    def endpoint(self, key: EndpointKey) -> int | None:
        return self.endpoints.get(key) or self.cache.endpoints.get(key) or self.other_endpoints.get(key)

    def consumer(self, key: ConsumerKey) -> int | None:
        return self.consumers.get(key) or self.cache.consumers.get(key) or self.other_consumers.get(key)

    def has_uncached(
        self, endpoint_keys: Iterable[EndpointKey], consumer_keys: Iterable[ConsumerKey]
    ) -> bool:
        """Whether any key is unknown to this process (its transaction may have to add rows)."""
        return any(k not in self.cache.endpoints for k in endpoint_keys) or any(
            k not in self.cache.consumers for k in consumer_keys
        )

    def seen(self, consumer_id: int) -> float:
        return self.last_seen.get(consumer_id) or self.cache.last_seen.get(consumer_id, 0.0)

    def error_group(self, key: ErrorGroupKey) -> int | None:
        return self.error_groups.get(key) or self.cache.error_groups.get(key)

    def commit(self) -> None:
        cache = self.cache
        cache.endpoints.update(self.endpoints)
        cache.consumers.update(self.consumers)
        cache.labels.update(self.labels)
        cache.error_groups.update(self.error_groups)
        for mine, theirs in ((self.last_seen, cache.last_seen), (self.error_seen, cache.error_seen)):
            for row_id, seen in mine.items():
                if seen > theirs.get(row_id, 0.0):
                    theirs[row_id] = seen


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def endpoint_key(env_id: int, method: str, path: str) -> EndpointKey:
    return (env_id, method.upper(), _path_key(path))


@functools.lru_cache(maxsize=65536)  # the same (method, path) pairs come in every sync, twice per entry
def natural_endpoint(method: str, path: str) -> NaturalEndpoint:
    """(METHOD, path_key): what identifies an endpoint within an env."""
    return (method.upper(), _path_key(path))


def resolve_endpoints(
    conn: sa.Connection,
    pending: Pending,
    env_id: int,
    paths: Mapping[EndpointKey, str],
    now: float,
    app_id: int | None = None,
    cap: int | None = None,
) -> None:
    """Make sure an endpoint exists for every key (value: the path as spelt) and record its id.

    With a cap (the caller holds caps.lock_app), keys new to the app past it get the "other" endpoint.
    """
    missing = sorted(k for k in paths if pending.endpoint(k) is None)
    if missing and app_id is not None and cap is not None:
        missing = _admitted_endpoints(conn, pending, app_id, env_id, missing, cap, now)
    _insert_endpoints(conn, pending, env_id, missing, paths, now)


def _insert_endpoints(
    conn: sa.Connection,
    pending: Pending,
    env_id: int,
    missing: list[EndpointKey],
    paths: Mapping[EndpointKey, str],
    now: float,
) -> None:
    if not missing:
        return
    rows = [
        {"env_id": env_id, "method": m, "path": paths[(e, m, k)], "path_key": k, "first_seen": now}
        for (e, m, k) in missing
    ]
    insert_ignore(conn, endpoints, rows, ["env_id", "method", "path_key"])
    wanted = set(missing)
    for chunk in _chunks(sorted({k for (_e, _m, k) in missing})):
        query = sa.select(endpoints.c.id, endpoints.c.method, endpoints.c.path_key).where(
            endpoints.c.env_id == env_id, endpoints.c.path_key.in_(chunk)
        )
        for row in conn.execute(query):
            key = (env_id, row.method, row.path_key)
            if key in wanted:
                pending.endpoints[key] = row.id


def _found_endpoints(conn: sa.Connection, pending: Pending, env_id: int, keys: list[EndpointKey]) -> None:
    """Record the ids of those keys that the env has already."""
    wanted = set(keys)
    for chunk in _chunks(sorted({k for (_e, _m, k) in keys})):
        query = sa.select(endpoints.c.id, endpoints.c.method, endpoints.c.path_key).where(
            endpoints.c.env_id == env_id, endpoints.c.path_key.in_(chunk)
        )
        for row in conn.execute(query):
            if (key := (env_id, row.method, row.path_key)) in wanted:
                pending.endpoints[key] = row.id


def _admitted_endpoints(
    conn: sa.Connection,
    pending: Pending,
    app_id: int,
    env_id: int,
    missing: list[EndpointKey],
    cap: int,
    now: float,
) -> list[EndpointKey]:
    """The keys to create: those another env of the app has, then new ones while the cap allows."""
    _found_endpoints(conn, pending, env_id, missing)
    new = [k for k in missing if k not in pending.endpoints]
    if not new:
        return []
    known: set[tuple[str, str]] = set()
    for chunk in _chunks(sorted({k for (_e, _m, k) in new})):
        known |= caps.known_endpoint_keys(conn, app_id, chunk)
    room = cap - caps.endpoint_count(conn, app_id)
    admitted = []
    over = []
    for key in new:
        natural = key[1:]
        if natural in known or natural == (caps.OTHER_METHOD, _path_key(caps.OTHER_PATH)):
            admitted.append(key)
        elif room > 0:
            admitted.append(key)
            known.add(natural)
            room -= 1
        else:
            over.append(key)
    if over:
        other = (env_id, caps.OTHER_METHOD, _path_key(caps.OTHER_PATH))
        _insert_endpoints(conn, pending, env_id, [other], {other: caps.OTHER_PATH}, now)
        other_id = pending.endpoints[other]
        pending.other_endpoints.update((key, other_id) for key in over)
        caps.record_hit(conn, app_id, caps.ENDPOINTS, now)
    return admitted


def mark_startup_endpoints(
    conn: sa.Connection, pending: Pending, described: Mapping[EndpointKey, tuple[str | None, str | None]]
) -> None:
    """Flag endpoints as listed by a startup payload, taking the summary/description it gives."""
    rows = [
        {"eid": pending.endpoint(key), "summary": summary, "description": description}
        for key, (summary, description) in sorted(described.items())
        if key not in pending.other_endpoints  # a startup does not describe the "other" endpoint
    ]
    if not rows:
        return
    conn.execute(
        endpoints.update()
        .where(endpoints.c.id == sa.bindparam("eid"))
        .values(
            in_startup=True,
            summary=sa.func.coalesce(sa.bindparam("summary", type_=sa.Text), endpoints.c.summary),
            description=sa.func.coalesce(sa.bindparam("description", type_=sa.Text), endpoints.c.description),
        ),
        rows,
    )


def resolve_consumers(
    conn: sa.Connection,
    pending: Pending,
    app_id: int,
    identifiers: Iterable[str],
    seen_at: float,
    cap: int | None = None,
    now: float | None = None,
) -> None:
    """Make sure a consumer exists for every identifier, and move last_seen forward (throttled).

    With a cap (the caller holds caps.lock_app), identifiers new past it get the "other" consumer.
    """
    wanted = sorted(set(identifiers))
    missing = [i for i in wanted if pending.consumer((app_id, i)) is None]
    if missing and cap is not None:
        missing = _admitted_consumers(
            conn, pending, app_id, missing, cap, seen_at, seen_at if now is None else now
        )
    _insert_consumers(conn, pending, app_id, missing, seen_at)
    stale = sorted(
        {
            cid
            for i in wanted
            if (cid := pending.consumer((app_id, i))) is not None
            and seen_at > pending.seen(cid) + LAST_SEEN_RESOLUTION
        }
    )
    if stale:
        conn.execute(
            consumers.update()
            .where(consumers.c.id == sa.bindparam("cid"), consumers.c.last_seen < sa.bindparam("seen"))
            .values(last_seen=sa.bindparam("seen")),
            [{"cid": cid, "seen": seen_at} for cid in stale],
        )
        for cid in stale:
            pending.last_seen[cid] = seen_at


def _found_consumers(conn: sa.Connection, pending: Pending, app_id: int, identifiers: list[str]) -> None:
    """Record the ids (and last_seen) of those identifiers that the app has already."""
    for chunk in _chunks(identifiers):
        query = sa.select(consumers.c.id, consumers.c.identifier, consumers.c.last_seen).where(
            consumers.c.app_id == app_id, consumers.c.identifier.in_(chunk)
        )
        for row in conn.execute(query):
            pending.consumers[(app_id, row.identifier)] = row.id
            pending.last_seen[row.id] = max(row.last_seen, pending.seen(row.id))


def _admitted_consumers(
    conn: sa.Connection,
    pending: Pending,
    app_id: int,
    missing: list[str],
    cap: int,
    seen_at: float,
    now: float,
) -> list[str]:
    """The identifiers to create: new ones while the cap allows (in order); the rest go to "other"."""
    _found_consumers(conn, pending, app_id, missing)
    new = [i for i in missing if (app_id, i) not in pending.consumers]
    if not new:
        return []
    room = max(0, cap - caps.consumer_count(conn, app_id))
    admitted = [i for i in new if i == caps.OTHER_CONSUMER]
    candidates = [i for i in new if i != caps.OTHER_CONSUMER]
    admitted += candidates[:room]
    over = candidates[room:]
    if over:
        _insert_consumers(conn, pending, app_id, [caps.OTHER_CONSUMER], seen_at)
        other_id = pending.consumers[(app_id, caps.OTHER_CONSUMER)]
        pending.other_consumers.update(((app_id, i), other_id) for i in over)
        caps.record_hit(conn, app_id, caps.CONSUMERS, now)
    return admitted


def _insert_consumers(
    conn: sa.Connection, pending: Pending, app_id: int, missing: list[str], seen_at: float
) -> None:
    if not missing:
        return
    rows = [{"app_id": app_id, "identifier": i, "first_seen": seen_at, "last_seen": seen_at} for i in missing]
    insert_ignore(conn, consumers, rows, ["app_id", "identifier"])
    _found_consumers(conn, pending, app_id, missing)


def consumer_id(pending: Pending, app_id: int, identifier: str | None) -> int:
    """The id of a resolved consumer; NO_ID for requests without one (missing or empty identifier)."""
    if not identifier:
        return NO_ID
    cid = pending.consumer((app_id, identifier))
    assert cid is not None, "resolve_consumers must run first"
    return cid


def name_consumers(conn: sa.Connection, pending: Pending, app_id: int, names: Mapping[str, Labels]) -> None:
    """Apply names and groups sent by a client; a value set by a person is kept, null changes nothing."""
    rows = []
    for ident, labels in sorted(names.items()):
        if (app_id, ident) in pending.other_consumers:
            continue  # past the cap: its name must not rename the "other" bucket
        cid = consumer_id(pending, app_id, ident)
        # Clients re-send names after every restart: the same values need no write (a person's edit
        # wins over client values anyway, so skipping a repeat cannot undo it).
        if (labels[0] or labels[1]) and pending.cache.labels.get(cid) != labels:
            rows.append({"cid": cid, "name": labels[0], "group": labels[1]})
            pending.labels[cid] = labels
    if not rows:
        return
    new_name = sa.func.coalesce(sa.bindparam("name", type_=sa.String), consumers.c.name)
    new_group = sa.func.coalesce(sa.bindparam("group", type_=sa.String), consumers.c.group_name)
    conn.execute(
        consumers.update()
        .where(consumers.c.id == sa.bindparam("cid"))
        .values(
            name=sa.case((consumers.c.name_set_by_user, consumers.c.name), else_=new_name),
            group_name=sa.case((consumers.c.group_set_by_user, consumers.c.group_name), else_=new_group),
        ),
        rows,
    )


MAX_CONSUMER_ATTRIBUTES = 10  # keys kept per consumer (apitally 1.0 sends at most 10)


def set_consumer_attributes(
    conn: sa.Connection, pending: Pending, app_id: int, changes: Mapping[str, Mapping[str, str | None]]
) -> None:
    """Apply attribute changes sent by a client: a value sets its key, None deletes it, others are kept."""
    by_id: dict[int, Mapping[str, str | None]] = {}
    for ident, change in changes.items():
        if (app_id, ident) in pending.other_consumers:
            continue  # past the cap: the "other" bucket has no attributes of its own
        by_id[consumer_id(pending, app_id, ident)] = change
    if not by_id:
        return
    # Sent only when a consumer changes (the client keeps a hash of what it sent): rare enough to read.
    stored = conn.execute(
        sa.select(consumers.c.id, consumers.c.attributes).where(consumers.c.id.in_(sorted(by_id)))
    ).all()
    rows = []
    for cid, current in stored:
        merged = dict(current or {})
        for key, value in by_id[cid].items():
            if value is None:
                merged.pop(key, None)
            elif key in merged or len(merged) < MAX_CONSUMER_ATTRIBUTES:
                merged[key] = value
        if merged != (current or {}):
            rows.append({"cid": cid, "attributes": merged or None})
    if rows:
        conn.execute(
            consumers.update()
            .where(consumers.c.id == sa.bindparam("cid"))
            .values(attributes=sa.bindparam("attributes")),
            rows,
        )


def upsert_instance(conn: sa.Connection, env_id: int, instance_uuid: str, values: dict[str, Any]) -> None:
    """Create or update an instance row; None values in `values` keep what is stored."""
    stmt = _instance_upsert(conn.dialect.name, tuple(values))
    conn.execute(stmt, {"env_id": env_id, "instance_uuid": instance_uuid, **values})


def upsert_instances(conn: sa.Connection, rows: Sequence[tuple[tuple[int, str], dict[str, Any]]]) -> None:
    """upsert_instance for many ((env_id, instance_uuid), values) of one shape, distinct keys, in one call."""
    if rows:
        stmt = _instance_upsert(conn.dialect.name, tuple(rows[0][1]))
        conn.execute(stmt, [{"env_id": e, "instance_uuid": u, **values} for (e, u), values in rows])


def describe_instance(
    conn: sa.Connection, env_id: int, instance_uuid: str, client: str | None, versions: dict[str, Any] | None
) -> None:
    """Set an instance's client and versions from what its exporter tells, unless a startup told them."""
    describe_instances(conn, [((env_id, instance_uuid), (client, versions))])


def describe_instances(
    conn: sa.Connection,
    described: Iterable[tuple[tuple[int, str], tuple[str | None, dict[str, Any] | None]]],
) -> None:
    """describe_instance for many ((env_id, instance_uuid), (client, versions)), one call per shape."""
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for (env_id, instance_uuid), (client, versions) in described:
        values: dict[str, Any] = {}
        if client:
            values["client"] = client[:64]
        if versions:
            values["versions"] = versions
        if values:
            params = {"of_env": env_id, "of_uuid": instance_uuid, **values}
            by_shape.setdefault(tuple(values), []).append(params)
    for names, rows in by_shape.items():
        conn.execute(_instance_description(names), rows)


@functools.cache
def _instance_description(names: tuple[str, ...]) -> Any:
    # Built once per shape, like _instance_upsert: OTLP exports describe their instance every time.
    return (
        instances.update()
        .where(
            instances.c.env_id == sa.bindparam("of_env", type_=sa.Integer),
            instances.c.instance_uuid == sa.bindparam("of_uuid", type_=instances.c.instance_uuid.type),
            instances.c.last_startup_at.is_(None),
        )
        .values({name: sa.bindparam(name, type_=instances.c[name].type) for name in names})
    )


@functools.cache
def _instance_upsert(dialect: str, names: tuple[str, ...]) -> Any:
    # Built once per shape: constructing an upsert costs more than running it.
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(instances).values(
        {
            name: sa.bindparam(name, type_=instances.c[name].type)
            for name in ("env_id", "instance_uuid", *names)
        }
    )
    update = {
        name: sa.func.coalesce(stmt.excluded[name], instances.c[name])
        for name in names
        if name != "first_seen"
    }
    return stmt.on_conflict_do_update(index_elements=["env_id", "instance_uuid"], set_=update)
