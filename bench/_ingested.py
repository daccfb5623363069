"""The query benchmark's data set, loaded through the ingestion code.

The same traffic as bench._dataset (same cells, daily cycle and histogram shapes), sent as one Hub v2
sync per minute through the hub's own parsing and writes (tallyhub.ingest.v2.models.Sync and
tallyhub.ingest.writer.Writer; only the HTTP layer is skipped, bench.ingest measures that),
then rolled up and trimmed by the hub's own rollup and retention, as a running hub would.
"""

from __future__ import annotations

import dataclasses
import random
import time
import uuid
from collections import Counter

import orjson
import sqlalchemy as sa
from tallyhub.app import run_retention
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.metrics import rollup
from tallyhub.settings import load_settings
from tallyhub.storage.database import Database
from tallyhub.storage.tables import HOUR, MINUTE, metrics

from bench._dataset import Loaded, Spec, _cells, _hist, _minutes

ENV = "bench"


def _endpoint(i: int) -> tuple[str, str]:
    return ("GET" if i % 3 else "POST"), (f"/resource{i // 2}/{{id}}" if i % 2 else f"/resource{i // 2}")


def load(db: Database, app_id: int, spec: Spec, now: float) -> Loaded:
    """Send the data set as minute syncs to env "bench" of the app, then roll up and apply retention."""
    began = time.perf_counter()
    rnd = random.Random(spec.seed)
    cells, cumulative = _cells(spec, rnd)
    writer = Writer(db)
    instance = str(uuid.uuid4())
    end = int(now // HOUR) * HOUR + HOUR
    loaded = Loaded()
    first = True
    for bucket, n in _minutes(spec, end, rnd):
        counts = Counter(rnd.choices(cells, cum_weights=cumulative, k=n))
        loaded.requests += n
        entries = []
        for (e, c, status), count in counts.items():
            method, path = _endpoint(e)
            kb = (e + 1) % 5
            entries.append(
                {
                    "consumer": f"consumer-{c}" if c >= 0 else None,
                    "method": method,
                    "path": path,
                    "status_code": status,
                    "request_count": count,
                    "request_size_sum": count * 200 if kb % 2 else 0,
                    "response_size_sum": count * (kb * 1000 + 400),
                    "response_times": orjson.loads(_hist(e, count)),
                    "request_sizes": {"0": count} if kb % 2 else {},
                    "response_sizes": {str(kb): count},
                }
            )
        named = [
            {"identifier": f"consumer-{c}", "name": f"Consumer {c}", "group": f"group-{c % 5}"}
            for c in range(spec.consumers)
        ]
        body = {
            "instance_uuid": instance,
            "message_uuid": str(uuid.uuid4()),
            "timestamp": bucket + MINUTE - 1,
            "requests": entries,
            "validation_errors": [],
            "server_errors": [],
            "consumers": named if first else [],
            "resources": None,
        }
        first = False
        writer.store_sync(app_id, ENV, Sync.model_validate_json(orjson.dumps(body)))
    settings = dataclasses.replace(load_settings(environ={}), retention_minute_days=spec.minute_days)
    rollup.run(db, settings, now)  # as a live hub's maintenance would have, minute by minute
    run_retention(db, settings, now)
    with db.read() as conn:
        loaded.rows = conn.execute(sa.select(sa.func.count()).select_from(metrics)).scalar_one()
    loaded.seconds = time.perf_counter() - began
    return loaded
