"""Ingestion throughput: concurrent senders POST realistic /sync payloads to a real `tallyhub serve`.

Each payload has 200 request entries (20 endpoints x 5 consumers x 2 statuses), consumer names and a
few server and validation errors, like a busy app's 10-second sync. Prints syncs/s and entries/s per
engine, and the ratio to a baseline measured on the same server: GET /healthz requests/s (the HTTP
ceiling of the stack, so the ratio shows what storing costs). PostgreSQL runs when
TALLYHUB_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) is
reachable; a fresh database is created and dropped there.

    python -m bench.ingest
    (BENCH_SECONDS=10 BENCH_SENDERS=8 BENCH_ENGINES=sqlite,postgres BENCH_SQLITE_WORKERS=1
     BENCH_PG_WORKERS=1,2,4 BENCH_BASELINE=d46a875; BENCH_PROFILE=/tmp/spy records the hub with
     py-spy, if installed)

"CPU/sync" is the CPU time the hub processes (and the senders) used per sync: unlike syncs/s it hardly
depends on what else the machine is running. Each engine also runs the hub of BENCH_BASELINE (a git
revision, extracted into a scratch folder and run with this virtual environment; "" skips it; it must
have this checkout's schema) at the same load, so "vs baseline" compares code paths measured minutes
apart in one run. Every run checks that the stored level-0 counts add up to exactly the requests sent,
and prints the hub processes' peak RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import sqlalchemy as sa
from tallyhub.storage import apps
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import LEVEL_TOTAL, MINUTE, metrics

ENTRIES = 200
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
SENDERS = int(os.environ.get("BENCH_SENDERS", "8"))
ENGINES = os.environ.get("BENCH_ENGINES", "sqlite,postgres").split(",")
SQLITE_WORKERS = int(os.environ.get("BENCH_SQLITE_WORKERS", "1"))
# Hub processes: PostgreSQL takes writers in parallel, so it runs with each of these counts.
PG_WORKERS = [int(n) for n in os.environ.get("BENCH_PG_WORKERS", "1,2,4").split(",") if n]
# A revision whose hub runs beside this checkout's in the same bench run: d46a875, before branch sync-cpu.
# It must know this checkout's schema (539399a, before issue 14's writer work, stops at migration 0020
# and no longer starts on it).
BASELINE = os.environ.get("BENCH_BASELINE", "d46a875")
PG_ADMIN_URL = os.environ.get(
    "TALLYHUB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def sync_payload(rng: random.Random, instance: str) -> dict[str, object]:
    """One sync as a busy Flask app sends it (PROTOCOL.md §2A.3), with a fresh message_uuid."""
    requests = []
    for e in range(20):
        for c in range(5):
            for status in (200, 404 if e % 3 else 500):
                count = rng.randint(1, 50)
                times = {
                    str(b * 10): n for b, n in enumerate(_split(rng, count, 6), start=rng.randint(0, 20)) if n
                }
                requests.append(
                    {
                        "consumer": f"customer-{c}",
                        "method": "GET" if e % 2 else "POST",
                        "path": f"/api/v1/resource{e}/<int:item_id>",
                        "status_code": status,
                        "request_count": count,
                        "request_size_sum": count * 120,
                        "response_size_sum": count * 2300,
                        "response_times": times,
                        "request_sizes": {"0": count},
                        "response_sizes": {"2": count},
                    }
                )
    return {
        "instance_uuid": instance,
        "message_uuid": str(uuid.uuid4()),
        "timestamp": time.time(),
        "requests": requests,
        "validation_errors": [
            {
                "consumer": "customer-1",
                "method": "POST",
                "path": "/api/v1/resource0/<int:item_id>",
                "loc": ["body", "name"],
                "msg": "Field required",
                "type": "missing",
                "error_count": 3,
            }
        ],
        "server_errors": [
            {
                "consumer": f"customer-{i}",
                "method": "GET",
                "path": f"/api/v1/resource{i}/<int:item_id>",
                "type": "builtins.ValueError",
                "msg": f"bad value {i}",
                "traceback": 'Traceback (most recent call last):\n  File "app.py", line 10\nValueError: bad',
                "sentry_event_id": None,
                "error_count": 1,
            }
            for i in range(3)
        ],
        "consumers": [
            {"identifier": f"customer-{c}", "name": f"Customer {c}", "group": "Paying"} for c in range(5)
        ],
        "resources": {"cpu_percent": 12.5, "memory_rss": 80_000_000},
    }


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


class Hub:
    """`tallyhub serve` as a child process."""

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        workers: int = 1,
        source: Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        """`settings`: TALLYHUB_* variables over the defaults (maintenance hourly: none during a run)."""
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_path.open("wb")
        env = {
            **os.environ,
            "TALLYHUB_LOG_LEVEL": "warning",
            "TALLYHUB_MAINTENANCE_INTERVAL_SECONDS": "3600",
            **(settings or {}),
        }
        if source is not None:  # another revision's hub package, ahead of the installed one
            env["PYTHONPATH"] = str(source)
        command = [
            sys.executable,
            "-m",
            "tallyhub",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        self.process = subprocess.Popen(
            [*command, "--database-url", database_url], stdout=self.log, stderr=subprocess.STDOUT, env=env
        )
        # At a load average above 10 (other benchmarks on 2 cores) two workers took more than 30 s.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()  # else it goes on running (and holding its database) after the bench gives up
        raise RuntimeError(f"hub did not start, see {log_path}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the hub and its worker processes so far (Linux /proc)."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """The largest peak RSS (VmHWM) among the hub's processes so far, in MB."""
        peaks = []
        for pid in [self.process.pid, *_children(self.process.pid)]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return max(peaks)

    def stop(self, timeout: float = 30) -> None:
        """Terminate the hub; its processes are killed if it has not exited after `timeout` seconds."""
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for pid in _children(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()
            print(f"hub did not exit within {timeout:.0f} s of SIGTERM: killed", flush=True)
        self.log.close()


class Connection:
    """A keep-alive HTTP/1.1 connection that POSTs JSON: a sender costing far less CPU than httpx.

    The senders share the machine with the hub, so the cheaper they are, the more the figures say
    about the hub (real clients send from other machines).
    """

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parsed = httpx.URL(url)
        self.host, self.port, self.target = parsed.host, parsed.port or 80, parsed.raw_path.decode()
        fields = {"Host": self.host, "Content-Type": "application/json", **(headers or {})}
        self.head = f"POST {self.target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{self.head}Content-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _drive(url: str, bodies: Iterator[bytes], seconds: float) -> tuple[int, list[float]]:
    """Send bodies from SENDERS concurrent connections for `seconds`; returns (sent, latencies)."""
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    async def sender() -> None:
        connection = Connection(url)
        try:
            while time.monotonic() < stop_at:
                body = next(bodies, None)
                if body is None:
                    return
                start = time.perf_counter()
                status, answer = await connection.post(body)
                if status >= 300:
                    raise RuntimeError(f"{status}: {answer[:500]!r}")
                latencies.append(time.perf_counter() - start)
        finally:
            connection.close()

    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return len(latencies), latencies


async def _baseline(url: str, seconds: float) -> float:
    count = 0
    stop_at = time.monotonic() + seconds

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal count
        while time.monotonic() < stop_at:
            (await client.get(url)).raise_for_status()
            count += 1

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=SENDERS), timeout=60) as client:
        await asyncio.gather(*(sender(client) for _ in range(SENDERS)))
    return count / seconds


@dataclasses.dataclass
class Result:
    syncs: float  # per second
    cpu_ms: float  # hub CPU per sync


def bench_engine(
    engine: str, database_url: str, workdir: Path, workers: int = 1, source: Path | None = None
) -> Result:
    label = f"{engine}{'' if source is None else ' (baseline)'}"
    db = Database(database_url)
    upgrade(db)
    app = apps.create_app(db, "bench", ("prod",))
    hub = Hub(database_url, workdir / f"hub-{engine}-{workers}.log", workers, source)
    try:
        rng = random.Random(7)
        instances = [str(uuid.uuid4()) for _ in range(SENDERS)]
        placeholder = "00000000-0000-4000-8000-000000000000"
        templates = []
        requests_in = []
        for i in range(16):
            payload = sync_payload(rng, instances[i % SENDERS])
            payload["message_uuid"] = placeholder
            templates.append(orjson.dumps(payload))
            requests_in.append(sum(r["request_count"] for r in payload["requests"]))  # type: ignore[attr-defined]
        taken = [0]

        def numbered() -> Iterator[bytes]:
            # Every body is a distinct message (a retry would be acknowledged without being stored);
            # each one taken is sent, so `taken` tells the requests the hub must have counted.
            for i in range(10**9):
                taken[0] = i + 1
                yield templates[i % len(templates)].replace(placeholder.encode(), str(uuid.uuid4()).encode())

        bodies = numbered()
        url = f"{hub.url}/v2/{app.client_id}/prod/sync"
        asyncio.run(
            _drive(url, itertools.islice(bodies, 40), 60)
        )  # warm-up: caches, connections, endpoints/consumers created
        if os.environ.get("BENCH_PROFILE"):
            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "-d",
                    str(int(SECONDS)),
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-p",
                    str(hub.process.pid),
                    "-o",
                    os.environ["BENCH_PROFILE"] + f".{engine}",
                ]
            )
        cpu_before, sender_before = hub.cpu_seconds(), time.process_time()
        started = time.perf_counter()
        sent, latencies = asyncio.run(_drive(url, bodies, SECONDS))
        elapsed = time.perf_counter() - started
        cpu_per_sync = (hub.cpu_seconds() - cpu_before) / max(sent, 1)
        sender_per_sync = (time.process_time() - sender_before) / max(sent, 1)
        rss = hub.rss_mb()
        healthz = asyncio.run(_baseline(f"{hub.url}/healthz", min(SECONDS, 5)))
        expected = sum(requests_in[i % len(templates)] for i in range(taken[0]))
        with db.read() as conn:
            stored = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(metrics.c.request_count), 0)).where(
                    metrics.c.granularity == MINUTE, metrics.c.level == LEVEL_TOTAL
                )
            ).scalar_one()
    finally:
        hub.stop()
        db.dispose()
    latencies.sort()
    syncs = sent / elapsed
    print(
        f"{label:20} syncs/s {syncs:7.1f}   entries/s {syncs * ENTRIES:9.0f}   "
        f"CPU/sync: hub {cpu_per_sync * 1000:4.1f} ms, senders {sender_per_sync * 1000:4.1f} ms   "
        f"latency p50 {latencies[len(latencies) // 2] * 1000:6.1f} ms  p95 "
        f"{latencies[int(len(latencies) * 0.95)] * 1000:6.1f} ms   "
        f"baseline GET /healthz {healthz:7.1f}/s   ratio {syncs / healthz:.3f}   hub peak RSS {rss:.0f} MB   "
        f"({sent} syncs in {elapsed:.1f} s, {SENDERS} senders, {workers} hub process(es), "
        f"requests stored {stored} of {expected}, load {_load()})",
        flush=True,
    )
    if stored != expected:
        raise SystemExit(f"{label}: {stored} requests stored at level 0 for {expected} sent")
    return Result(syncs, cpu_per_sync * 1000)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextlib.contextmanager
def baseline_source(revision: str = BASELINE) -> Iterator[Path | None]:
    """The hub package of `revision` (BENCH_BASELINE) extracted into a scratch folder; None for ""."""
    if not revision:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="tallyhub-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "archive", revision, "hub/src"],
            check=True,
            capture_output=True,
            cwd=Path(__file__).resolve().parent.parent,  # the checkout: git archive paths are relative
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp) / "hub" / "src"


def _compare(label: str, new: Result, old: Result | None) -> None:
    if old is not None:
        print(
            f"{label:20} vs baseline {BASELINE}: syncs/s x{new.syncs / old.syncs:.2f}, "
            f"hub CPU per sync {old.cpu_ms:.1f} -> {new.cpu_ms:.1f} ms (x{old.cpu_ms / new.cpu_ms:.2f} less)",
            flush=True,
        )


@contextlib.contextmanager
def scratch_postgres() -> Iterator[str | None]:
    """A fresh PostgreSQL database for one benchmark run, dropped after it; None when unreachable."""
    name = f"tallyhub_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        print(f"postgres  skipped: {PG_ADMIN_URL} unreachable ({exc.orig})")
        admin.dispose()
        yield None
        return
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tallyhub-bench-") as tmp, baseline_source() as old_source:
        workdir = Path(tmp)
        if "sqlite" in ENGINES:
            new = bench_engine("sqlite", f"sqlite:///{workdir / 'bench.sqlite3'}", workdir, SQLITE_WORKERS)
            old = None
            if old_source is not None:
                old = bench_engine(
                    "sqlite", f"sqlite:///{workdir / 'old.sqlite3'}", workdir, SQLITE_WORKERS, old_source
                )
            _compare("sqlite", new, old)
        if "postgres" in ENGINES:
            by_workers: dict[int, Result] = {}
            for workers in PG_WORKERS:
                with scratch_postgres() as url:
                    if url is None:
                        return
                    by_workers[workers] = bench_engine("postgres", url, workdir, workers)
            if old_source is not None and 2 in by_workers:
                with scratch_postgres() as url:
                    if url is not None:
                        _compare(
                            "postgres x2",
                            by_workers[2],
                            bench_engine("postgres", url, workdir, 2, old_source),
                        )
            print(
                "postgres by hub processes: "
                + ", ".join(
                    f"{w}: {r.syncs:.0f} syncs/s at {r.cpu_ms:.1f} ms" for w, r in by_workers.items()
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
