"""PostgreSQL writes the request-log CSV (analytics/request_log_csv_pg.py): the bytes equal those of the
Python writer (csv_export.request_logs_csv) for rows that need quoting, escaping or odd numbers, and the
response time is Python's repr(round(seconds * 1000, 3)) for every float, ties included."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from tallyhub.analytics import csv_export, request_log_csv_pg
from tallyhub.analytics import request_logs as reads
from tallyhub.analytics.log_query import LogFilters
from tallyhub.analytics.query import Filters
from tallyhub.analytics.selection import resolve
from tallyhub.ingest import batch
from tallyhub.storage import apps
from tallyhub.storage.database import Database

from tests.support.request_logs import sample_log, store_logs

T0 = 1_795_651_200.0 - 3.5  # across a day boundary
TEXTS = [
    "=1+1",
    "+cmd",
    "-2",
    "@SUM(A1)",
    "\tx",
    "\rx",
    'say "hi"',
    "a,b",
    "line\nbreak",
    "cr\rin",
    "crlf\r\nin",
    "naïve ☃ 𝄞",
    '"',
    ",",
    " lead",
    "x'",
    "'already",
]
RESPONSE_TIMES = [
    0.0,
    -0.0,
    0.012,
    12.0,
    0.0004449,
    1.23456789,
    0.0000625,  # 0.0625 ms: an exact tie, rounded half to even
    0.0001875,
    0.0123455,
    0.002675,
    0.0015,
    1 / 3,
    0.1,
    1e7,
    9_223_372_036.854775807,  # the longest OTLP span
]


@pytest.fixture
def pg(db: Database) -> Database:
    """PostgreSQL only (the module's tests run on that engine alone, not skipped on SQLite)."""
    assert not db.is_sqlite
    return db


pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def _tricky(i: int) -> batch.RequestLog:
    log = sample_log(i, T0)
    log.timestamp = T0 + [0.0, 0.0005, 0.9995, 0.999, 0.7371 * i, 1.5][i % 6] + i
    log.response_time = RESPONSE_TIMES[i % len(RESPONSE_TIMES)]
    log.url = TEXTS[i % len(TEXTS)]
    log.path = [None, TEXTS[(i + 3) % len(TEXTS)], "/items/{id}"][i % 3]
    log.method = ["GET", "=X", "post"][i % 3]
    log.consumer = [None, TEXTS[(i + 5) % len(TEXTS)]][i % 2]
    log.client_ip = [None, "-1", "2001:db8::1", TEXTS[(i + 7) % len(TEXTS)][:64]][i % 4]
    log.exception = batch.ExceptionInfo(TEXTS[(i + 9) % len(TEXTS)], "m", "tb", None) if i % 3 else None
    log.trace_id = [None, f"{i:032x}", "-" + "f" * 31][i % 3]
    log.request_size = [None, 0, 123, 2**40][i % 4]
    log.response_size = [None, 7, 0][i % 3]
    log.status_code = [200, 500, 404][i % 3]
    return log


def _both(db: Database, app_id: int) -> tuple[bytes, bytes]:
    """The PostgreSQL writer's download and the Python writer's, of the same rows."""
    with db.read() as conn:
        resolved = resolve(conn, app_id, Filters())
        terms = reads.conditions(conn, resolved, T0 - 10, T0 + 3600, None, LogFilters())
    assert terms is not None
    by_server = b"".join(csv_export.request_logs_csv_bytes(db, resolved, terms))
    batches = reads.iter_export_batches(db, resolved, terms, csv_export.MAX_ROWS)
    by_python = "".join(csv_export.request_logs_csv(batches, resolved.env_names)).encode()
    return by_server, by_python


@pytest.mark.parametrize("export_batch", [4, 10_000])
def test_the_server_writes_the_bytes_the_python_writer_writes(
    pg: Database, monkeypatch: pytest.MonkeyPatch, export_batch: int
) -> None:
    monkeypatch.setattr(reads, "EXPORT_BATCH", export_batch)  # the Python writer's batches
    monkeypatch.setattr(request_log_csv_pg, "BATCH", export_batch)  # the server's
    app = apps.create_app(pg, "Shop", ("prod", "dev"))
    logs = [_tricky(i) for i in range(60)]
    store_logs(pg, app.id, "prod", logs[::2], T0 + 3600)
    store_logs(pg, app.id, "dev", logs[1::2], T0 + 3600)
    by_server, by_python = _both(pg, app.id)
    assert by_server.count(b"\r\n") >= 61 and by_server.count(b"'") >= 40  # the rows hold what to test
    assert by_server.decode().splitlines() == by_python.decode().splitlines()  # a readable diff first
    assert by_server == by_python
    monkeypatch.setattr(csv_export, "MAX_ROWS", 9)  # the cap inside a batch
    capped, expected = _both(pg, app.id)
    assert capped == expected and expected.count(b"\n") - expected.count(b"line\nbreak") >= 10


def test_empty_texts_and_a_formula_env_name_are_written_as_python_writes_them(pg: Database) -> None:
    app = apps.create_app(pg, "Shop", ("+prod",))
    logs = [_tricky(i) for i in range(6)]
    store_logs(pg, app.id, "+prod", logs, T0 + 3600)
    with pg.write() as conn:  # what no client sends, but a cell can hold: empty texts
        conn.execute(
            sa.text("UPDATE request_logs SET url = '', client_ip = '', trace_id = '' WHERE id % 2 = 0")
        )
    by_server, by_python = _both(pg, app.id)
    assert b",'+prod," in by_server and by_server == by_python


def _server_ms(db: Database, seconds: list[float]) -> list[str]:
    rounded = request_log_csv_pg._rounded_ms("f0.rt")
    query = (
        f"SELECT {request_log_csv_pg._RESPONSE_MS} FROM (SELECT f0.*, {rounded} AS ms"
        " FROM (SELECT s.rt, s.i FROM unnest(CAST(:rts AS float8[])) WITH ORDINALITY AS s(rt, i)) AS f0"
        " OFFSET 0) AS f ORDER BY f.i"
    )
    with db.read() as conn:
        conn.exec_driver_sql("SET extra_float_digits = 1")
        return list(conn.execute(sa.text(query), {"rts": seconds}).scalars())


def test_the_response_time_is_pythons_rounded_float_for_any_value(pg: Database) -> None:
    rng = random.Random(12)
    seconds: list[float] = list(RESPONSE_TIMES)
    seconds += [rng.uniform(0, 2) for _ in range(3000)]
    seconds += [rng.randrange(10**10) / 1e9 for _ in range(3000)]  # OTLP's nanoseconds
    seconds += [(rng.randrange(10**6) * 10 + 5) / 1e7 for _ in range(3000)]  # ties in decimal
    seconds += [k / 16e3 + j * 1e3 for k in range(1, 32, 2) for j in range(3)]  # exact binary ties
    seconds += [rng.uniform(1e6, 1e10) for _ in range(300)]  # the numeric path beyond 1e12 ms
    expected = [repr(round(s * 1000, 3)) for s in seconds]
    slow = sum(abs(s * 1000 * 1000 % 1 - 0.5) <= 0.001 or s >= 1e6 for s in seconds)
    assert slow > 1000  # the exact (numeric) path is tested as much as the float one
    got = _server_ms(pg, seconds)
    assert [(s, g) for s, g, e in zip(seconds, got, expected, strict=True) if g != e] == []
