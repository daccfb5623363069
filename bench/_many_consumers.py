"""A 100,000-consumer app over the last 24 hours, loaded through the hub's ingestion (Writer), then rolled up.

One sync per hour, each bringing about 1/24 of the consumers as new ones plus a few hundred returning ones,
two status codes per consumer, and a group for one consumer in ten: what a flood of made-up consumer
identifiers leaves behind (the caps are raised for the load: this measures the pages at 100k).
"""

from __future__ import annotations

import random
import time
import uuid

import orjson
import sqlalchemy as sa
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.metrics import rollup
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.caps import Caps
from tallyhub.storage.database import Database
from tallyhub.storage.tables import HOUR, apps, consumers, metrics

ENV = "prod"
APP_NAME = "Many consumers"
HOURS = 24


def _entry(consumer: str, status: int, count: int) -> dict[str, object]:
    return {
        "consumer": consumer,
        "method": "GET",
        "path": "/items/{id}" if status == 200 else "/items",
        "status_code": status,
        "request_count": count,
        "request_size_sum": 0,
        "response_size_sum": count * 1200,
        "response_times": {str(20 + 10 * (count % 7)): count},
        "request_sizes": {},
        "response_sizes": {"1": count},
    }


def find(db: Database) -> int | None:
    """The app of a complete earlier load (kept database), if any."""
    with db.read() as conn:
        return conn.execute(sa.select(apps.c.id).where(apps.c.name == APP_NAME)).scalar()


def load(db: Database, team_id: int | None, n: int = 100_000, now: float | None = None) -> int:
    """Create the app (named APP_NAME once complete) with `n` consumers; returns its id."""
    now = time.time() if now is None else now
    rnd = random.Random(7)
    created = app_store.create_app(db, "loading", (ENV,), team_id=team_id)
    writer = Writer(db, limits=Caps(consumers=n * 2, endpoints=100, envs=5))
    instance = str(uuid.uuid4())
    per_hour = -(-n // HOURS)
    began = time.perf_counter()
    for hour in range(HOURS):
        new = range(hour * per_hour, min(n, (hour + 1) * per_hour))
        returning = rnd.sample(range(hour * per_hour), min(500, hour * per_hour))
        entries = []
        for c in (*new, *returning):
            entries.append(_entry(f"consumer-{c}", 200, 1 + c % 13))
            if c % 4 == 0:
                entries.append(_entry(f"consumer-{c}", 404, 1 + c % 3))
        named = [
            {"identifier": f"consumer-{c}", "name": f"Consumer {c}", "group": f"group-{c % 50}"}
            for c in new
            if c % 10 == 0
        ]
        body = {
            "instance_uuid": instance,
            "message_uuid": str(uuid.uuid4()),
            "timestamp": now - (HOURS - hour) * HOUR + 600,
            "requests": entries,
            "validation_errors": [],
            "server_errors": [],
            "consumers": named,
            "resources": None,
        }
        writer.store(created.id, ENV, translate.sync(Sync.model_validate_json(orjson.dumps(body))))
    rollup.run(db, load_settings(environ={}), now)
    with db.write() as conn:
        conn.execute(apps.update().where(apps.c.id == created.id).values(name=APP_NAME))
    with db.read() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(metrics)).scalar_one()
        count = conn.execute(sa.select(sa.func.count()).where(consumers.c.app_id == created.id)).scalar_one()
    print(
        f"loaded {count} consumers ({rows} metric rows) in {time.perf_counter() - began:.0f} s",
        flush=True,
    )
    return created.id
