"""OTLP trace and log ingestion: concurrent senders POST trace exports (100 SERVER spans with headers and
small bodies, 3 child spans each) and log exports (100 records of those traces) to a real `tallyhub serve`.

Prints spans/s and log records/s stored per engine (one hub process), checked against the rows stored,
and the ratio to GET /healthz requests/s on the same server. Target: >= 3,000 spans/s per hub process.

Run by bench.otlp (BENCH=otlp) after its metrics figures, on each engine; alone:
    python -m bench._otlp_spans   (BENCH_SECONDS, BENCH_SENDERS, BENCH_ENGINES: bench.ingest)
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from tallyhub.storage import apps, write_tokens
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import request_logs, trace_items

from bench.ingest import ENGINES, SECONDS, SENDERS, Connection, Hub, _baseline, scratch_postgres
from tests.support import otlp_messages as m

SERVER_SPANS, CHILDREN, LOG_RECORDS = 100, 3, 100
EXPORTS = int(os.environ.get("BENCH_OTLP_EXPORTS", "400"))  # distinct bodies built before timing


def trace_export(rng: random.Random, resource: dict[str, object]) -> tuple[bytes, bytes]:
    """One trace export and one log export of its traces, as an instrumented API's busy second."""
    now_ns = time.time_ns()
    spans, records = [], []
    for n in range(SERVER_SPANS):
        trace, root = rng.randbytes(16).hex(), rng.randbytes(8).hex()
        start = now_ns + n * 1_000_000
        item = rng.randint(1, 10_000)
        spans.append(
            m.span(
                trace,
                root,
                "GET /items/{id}",
                start,
                rng.randint(2, 80) * 1_000_000,
                kind=m.SERVER,
                attrs={
                    "http.request.method": "GET" if n % 4 else "POST",
                    "url.scheme": "https",
                    "url.path": f"/items/{item}",
                    "url.query": "page=2&token=[REDACTED]",
                    "server.address": "api.example.com",
                    "http.route": "/items/{id}",
                    "http.response.status_code": 200 if n % 10 else 404,
                    "client.address": "203.0.113.7",
                    "user_agent.original": "python-httpx/0.28",
                    "apitally.consumer.identifier": f"customer-{n % 5}",
                    "http.request.header.content-type": ["application/json"],
                    "http.request.header.accept": ["*/*"],
                    "http.response.header.content-type": ["application/json"],
                    "http.request.body.size": 42,
                    "http.response.body.size": 180,
                    "apitally.request.body": '{"name":"widget","qty":3}',
                    "apitally.response.body": f'{{"id":{item},"name":"widget","qty":3,"price":9.5}}',
                },
            )
        )
        parent = root
        for c in range(CHILDREN):
            child = rng.randbytes(8).hex()
            spans.append(
                m.span(
                    trace,
                    child,
                    ("db.query", "cache.get", "render")[c],
                    start + (c + 1) * 100_000,
                    50_000,
                    parent=parent,
                    kind=m.CLIENT if c < 2 else m.INTERNAL,
                    attrs={"db.system": "postgresql", "db.statement": "SELECT * FROM items WHERE id = $1"},
                )
            )
            parent = child if c == 0 else parent
        records.append(
            m.log_record(start + 500_000, f"loaded item {item}", trace=trace, span_id=root, severity="INFO")
        )
    return (
        m.traces(resource, *spans).SerializeToString(),
        m.logs(resource, *records, scope="shop.items").SerializeToString(),
    )


async def _post(connection: Connection, body: bytes) -> tuple[int, bytes]:
    """POST once more on a new connection if the hub closed this one: each sender alternates two
    connections, and one left idle past uvicorn's keep-alive timeout (5 s, under a heavy load) is closed.
    The export is sent again whole, as an OTLP client would (the hub acknowledges a repeat once)."""
    try:
        return await connection.post(body)
    except (IndexError, ConnectionError, asyncio.IncompleteReadError):
        connection.close()
        connection.reader = connection.writer = None
        return await connection.post(body)


async def _drive(url: str, token: str, bodies: Iterator[tuple[str, bytes]], seconds: float) -> dict[str, int]:
    sent = {"traces": 0, "logs": 0}
    stop_at = time.monotonic() + seconds

    async def sender() -> None:
        connections = {
            s: Connection(
                f"{url}/v1/{s}",
                {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"},
            )
            for s in sent
        }
        try:
            while time.monotonic() < stop_at:
                pair = next(bodies, None)
                if pair is None:
                    return
                signal, body = pair
                status, answer = await _post(connections[signal], body)
                if status >= 300:
                    raise RuntimeError(f"{status}: {answer[:500]!r}")
                sent[signal] += 1
        finally:
            for connection in connections.values():
                connection.close()

    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return sent


def bench_engine(engine: str, database_url: str, workdir: Path) -> tuple[float, float]:
    """Print this engine's figures; (spans/s, hub CPU s per span)."""
    db = Database(database_url)
    upgrade(db)
    app = apps.create_app(db, "bench", ("prod",))
    with db.write() as conn:
        token = write_tokens.create(conn, app.id, time.time(), 0)
    rng = random.Random(11)
    resource = {
        "service.name": "shop",
        "service.instance.id": str(uuid.uuid4()),
        "deployment.environment.name": "prod",
    }
    pairs = [trace_export(rng, resource) for _ in range(EXPORTS + 10)]
    bodies = iter([(s, b) for t, lg in pairs for s, b in (("traces", t), ("logs", lg))])
    hub = Hub(database_url, workdir / f"hub-{engine}.log", 1)
    try:
        warm = iter([next(bodies) for _ in range(20)])
        asyncio.run(_drive(hub.url, token, warm, 60))
        cpu_before = hub.cpu_seconds()
        started = time.perf_counter()
        sent = asyncio.run(_drive(hub.url, token, bodies, SECONDS))
        elapsed = time.perf_counter() - started
        cpu = hub.cpu_seconds() - cpu_before
        healthz = asyncio.run(_baseline(f"{hub.url}/healthz", min(SECONDS, 5)))
        with db.read() as conn:
            logs = conn.execute(sa.select(sa.func.count()).select_from(request_logs)).scalar_one()
            items = dict(
                conn.execute(
                    sa.select(trace_items.c.kind, sa.func.count()).group_by(trace_items.c.kind)
                ).all()
            )
    finally:
        hub.stop()
        db.dispose()
    spans = sent["traces"] * SERVER_SPANS * (1 + CHILDREN)
    records = sent["logs"] * LOG_RECORDS
    expected_logs = (sent["traces"] + 10) * SERVER_SPANS  # the warm-up sent 10 trace exports
    if logs != expected_logs or items.get("span", 0) != expected_logs * CHILDREN:
        raise SystemExit(
            f"{engine}: stored {logs} request logs and {items} trace items for {sent} (+ warm-up)"
        )
    rate, exports = spans / elapsed, sent["traces"] / elapsed
    print(
        f"{engine:9} spans/s {rate:7.0f} (target >= 3000)   log records/s {records / elapsed:6.0f}   "
        f"trace exports/s {exports:5.1f}   hub CPU/span {cpu / max(spans, 1) * 1e6:5.0f} us   "
        f"baseline GET /healthz {healthz:7.1f}/s   ratio exports/healthz {exports / healthz:.4f}   "
        f"({sent['traces']} trace + {sent['logs']} log exports in {elapsed:.1f} s, {SENDERS} senders, "
        "1 hub process)",
        flush=True,
    )
    return rate, cpu / max(spans, 1)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tallyhub-bench-") as tmp:
        workdir = Path(tmp)
        if "sqlite" in ENGINES:
            bench_engine("sqlite", f"sqlite:///{workdir / 'bench.sqlite3'}", workdir)
        if "postgres" in ENGINES:
            with scratch_postgres() as url:
                if url is not None:
                    bench_engine("postgres", url, workdir)


if __name__ == "__main__":
    main()
