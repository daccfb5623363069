"""OTLP metrics ingestion: concurrent senders POST apitally-1.0-shaped /v1/metrics exports to a real hub.

Each export holds 200 data points (100 request keys x duration and response-size exponential histograms,
scale 3, delta, as apitally 1.0 sends them) plus its CPU and memory gauges, gzip-compressed protobuf with a
write token. In the same run and on the same hub process, Hub v2 syncs of 200 entries (bench.ingest's
payload) are measured as the baseline. Prints exports/s, data points/s and hub CPU per data point next to
syncs/s and hub CPU per sync entry, per engine; the target is >= 150 metric exports/s per hub process.
Then bench._otlp_spans's trace and log exports on a fresh database of the same engine (target >= 3,000
spans/s), and one summary line per engine with every figure the issue asks for.

    python -m bench.otlp   (BENCH_SECONDS=10 BENCH_SENDERS=8 BENCH_ENGINES=sqlite,postgres
                            BENCH_OTLP_BASELINE=<git revision>)

BENCH_OTLP_BASELINE (a git revision; unset or "" skips it) also runs the metrics part on the hub of that
revision (as bench.ingest's BENCH_BASELINE does), on a fresh database of the same engine, and prints the
ratio of exports/s and of hub CPU per export: before/after measured minutes apart in one run.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
from tallyhub.storage import apps, write_tokens
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade

from bench import _otlp_spans
from bench.ingest import (
    ENGINES,
    SECONDS,
    SENDERS,
    Connection,
    Hub,
    baseline_source,
    scratch_postgres,
    sync_payload,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.otlp import Requests, apitally_export, kv

POINTS = 200
BASELINE = os.environ.get("BENCH_OTLP_BASELINE", "")
SEQ = b"seq-0000000000"  # a fixed-length marker in each export: every body is distinct (no retry)


def otlp_connection(url: str, token: str) -> Connection:
    """bench.ingest's cheap keep-alive sender, with the headers apitally 1.0 sends."""
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    return Connection(url, {**headers, "Authorization": f"Bearer {token}", "Apitally-Env": "prod"})


def export_template(rng: random.Random, instance: str) -> bytes:
    """An apitally 1.0 metrics export of POINTS data points, uncompressed, with the SEQ marker."""
    reqs = [
        Requests(
            "GET" if e % 2 else "POST",
            f"/api/v1/resource{e}/{{item_id}}",
            status,
            [rng.lognormvariate(-3, 1) for _ in range(rng.randint(1, 30))],
            f"customer-{c}",
            response_sizes=[rng.randint(100, 20000) for _ in range(3)],
        )
        for e in range(10)
        for c in range(5)
        for status in (200, 404 if e % 3 else 500)
    ]
    export = apitally_export(reqs, instance, time.time_ns())
    export.resource_metrics[0].resource.attributes.append(kv("bench.seq", SEQ.decode()))
    return export.SerializeToString()


async def _drive(connections: list[Connection], bodies: Iterator[bytes], seconds: float) -> int:
    sent = 0
    stop_at = time.monotonic() + seconds

    async def sender(connection: Connection) -> None:
        nonlocal sent
        while time.monotonic() < stop_at:
            body = next(bodies, None)
            if body is None:
                return  # the warm-up's bodies are all sent
            status, answer = await connection.post(body)
            if status >= 300:
                raise RuntimeError(f"{status}: {answer[:300]!r}")
            sent += 1

    try:
        await asyncio.gather(*(sender(c) for c in connections))
    finally:
        for c in connections:
            c.close()
    return sent


def _measure(hub: Hub, make: object, bodies: Iterator[bytes]) -> tuple[float, float]:
    """(messages/s, hub CPU s per message) over SECONDS, after a warm-up."""
    asyncio.run(_drive([make() for _ in range(SENDERS)], itertools.islice(bodies, 40), 60))  # type: ignore[operator]
    cpu = hub.cpu_seconds()
    started = time.perf_counter()
    sent = asyncio.run(_drive([make() for _ in range(SENDERS)], bodies, SECONDS))  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    return sent / elapsed, (hub.cpu_seconds() - cpu) / max(sent, 1)


def bench_engine(
    engine: str, database_url: str, workdir: Path, source: Path | None = None
) -> tuple[float, float, float]:
    """Print this engine's metrics figures; (exports/s, hub CPU s per point, hub CPU s per v2 entry).

    `source`: another revision's hub package to run instead of this checkout's (the baseline).
    """
    db = Database(database_url)
    upgrade(db)
    app = apps.create_app(db, "bench", ("prod",))
    with db.write() as conn:
        token = write_tokens.create(conn, app.id, time.time(), 0)
    label = engine if source is None else f"{engine} (baseline {BASELINE})"
    hub = Hub(database_url, workdir / f"hub-otlp-{engine}{'' if source is None else '-old'}.log", 1, source)
    try:
        rng = random.Random(7)
        instances = [str(uuid.uuid4()) for _ in range(SENDERS)]
        templates = [export_template(rng, instances[i % SENDERS]) for i in range(8)]
        counter = itertools.count()

        def exports() -> Iterator[bytes]:
            for i in counter:
                seq = b"seq-%010d" % i
                yield gzip.compress(templates[i % len(templates)].replace(SEQ, seq), compresslevel=6)

        placeholder = "00000000-0000-4000-8000-000000000000"
        sync_templates = []
        for i in range(8):
            payload = sync_payload(rng, instances[i % SENDERS])
            payload["message_uuid"] = placeholder
            sync_templates.append(orjson.dumps(payload))
        syncs = (
            sync_templates[i % 8].replace(placeholder.encode(), str(uuid.uuid4()).encode())
            for i in range(10**9)
        )
        v2_rate, v2_cpu = _measure(hub, lambda: Connection(f"{hub.url}/v2/{app.client_id}/prod/sync"), syncs)
        otlp_rate, otlp_cpu = _measure(
            hub, lambda: otlp_connection(f"{hub.url}/v1/metrics", token), exports()
        )
    finally:
        hub.stop()
        db.dispose()
    load = os.getloadavg()[0]
    print(
        f"{label:9} OTLP metric exports/s {otlp_rate:6.1f}  points/s {otlp_rate * POINTS:8.0f}  "
        f"hub CPU/point {otlp_cpu / POINTS * 1e6:6.1f} us   |  Hub v2 syncs/s {v2_rate:6.1f}  "
        f"entries/s {v2_rate * 200:8.0f}  hub CPU/entry {v2_cpu / 200 * 1e6:6.1f} us   "
        f"ratio CPU/point : CPU/entry {otlp_cpu / max(v2_cpu, 1e-9):.2f}   target >= 150 exports/s: "
        f"{'met' if otlp_rate >= 150 else 'NOT met'}   (1 hub process, {SENDERS} senders, load {load:.2f})",
        flush=True,
    )
    return otlp_rate, otlp_cpu / POINTS, v2_cpu / 200


def summary(engine: str, metrics: tuple[float, float, float], spans: tuple[float, float]) -> None:
    rate, cpu_point, cpu_entry = metrics
    span_rate, cpu_span = spans
    print(
        f"{engine:9} SUMMARY  metric exports/s {rate:6.1f} (>= 150: {'met' if rate >= 150 else 'NOT met'})  "
        f"data points/s {rate * POINTS:7.0f}  spans/s {span_rate:6.0f} (>= 3000: "
        f"{'met' if span_rate >= 3000 else 'NOT met'})  hub CPU/point {cpu_point * 1e6:5.1f} us vs "
        f"Hub v2 CPU/entry {cpu_entry * 1e6:5.1f} us (ratio {cpu_point / max(cpu_entry, 1e-12):.2f})  "
        f"hub CPU/span {cpu_span * 1e6:4.0f} us  (load {os.getloadavg()[0]:.2f})",
        flush=True,
    )


def compare(engine: str, new: tuple[float, float, float], old: tuple[float, float, float]) -> None:
    print(
        f"{engine:9} vs baseline {BASELINE}: metric exports/s {old[0]:.1f} -> {new[0]:.1f} "
        f"(x{new[0] / old[0]:.2f}), hub CPU per export {old[1] * POINTS * 1000:.2f} -> "
        f"{new[1] * POINTS * 1000:.2f} ms (x{old[1] / new[1]:.2f} less)  (load {os.getloadavg()[0]:.2f})",
        flush=True,
    )


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="tallyhub-bench-otlp-") as tmp,
        baseline_source(BASELINE) as old_source,
    ):
        workdir = Path(tmp)
        if "sqlite" in ENGINES:
            measured = bench_engine("sqlite", f"sqlite:///{workdir / 'bench.sqlite3'}", workdir)
            if old_source is not None:
                old = bench_engine("sqlite", f"sqlite:///{workdir / 'old.sqlite3'}", workdir, old_source)
                compare("sqlite", measured, old)
            spans = _otlp_spans.bench_engine("sqlite", f"sqlite:///{workdir / 'spans.sqlite3'}", workdir)
            summary("sqlite", measured, spans)
        if "postgres" in ENGINES:
            with scratch_postgres() as url:
                if url is None:
                    return
                measured = bench_engine("postgres", url, workdir)
            if old_source is not None:
                with scratch_postgres() as url:
                    if url is not None:
                        compare("postgres", measured, bench_engine("postgres", url, workdir, old_source))
            with scratch_postgres() as url:
                if url is not None:
                    summary("postgres", measured, _otlp_spans.bench_engine("postgres", url, workdir))


if __name__ == "__main__":
    main()
