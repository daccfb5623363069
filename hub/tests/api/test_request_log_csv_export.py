"""The request-log CSV export, byte for byte: the read API's and the dashboard's file equals the CSV made
from the logs sent (csv module, escape_cell on every cell), across envs and export batches; and the
client_ip and exception_type columns it reads are those of the logs sent (both engines)."""

from __future__ import annotations

import csv
import io
import itertools
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from tallyhub.accounts import teams
from tallyhub.analytics import csv_export, request_log_csv_pg
from tallyhub.analytics import request_logs as reads
from tallyhub.analytics.log_query import LogFilters
from tallyhub.analytics.query import Filters
from tallyhub.analytics.selection import resolve
from tallyhub.ingest import batch
from tallyhub.storage.tables import request_logs

from tests.support.request_logs import sample_log, store_logs

T0 = 1_795_651_200.0 - 7.3  # the logs cross a day boundary
WINDOW = {"start": T0 - 1, "end": T0 + 3600}


def _tricky(i: int) -> batch.RequestLog:
    """sample_log with cells that need quoting or formula escaping, odd times and missing values."""
    log = sample_log(i, T0)
    log.timestamp = T0 + i * 0.7371
    log.response_time = [0.0004449, 1.23456789, 12.0, 0.1][i % 4]
    log.url = [
        'https://shop.test/a,b?x="q"',
        '=HYPERLINK("http://x")',
        "-2+3",
        "https://shop.test/line\nbreak",
        "@SUM(A1)",
        "\tx",
    ][i % 6]
    log.path = [None, "+/items", "/items/{id}"][i % 3]
    log.consumer = [None, "=1", "acme, inc", "naïve"][i % 4]
    log.client_ip = [None, "10.0.0.1", "-1", "2001:db8::1"][i % 4]
    if log.exception is not None and i % 2:
        log.exception = batch.ExceptionInfo("=Err", "m", "tb", None)
    log.response_size = None if i % 5 == 0 else log.response_size
    return log


def _iso_ms(seconds: float) -> str:
    whole = int(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((seconds - whole) * 1000):03d}Z"


def _expected(logs: list[tuple[str, batch.RequestLog]], ids: dict[str, int]) -> str:
    """The CSV of the logs sent, newest first, every cell through escape_cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_export.REQUEST_LOG_HEADER)
    for env, log in sorted(logs, key=lambda e: (e[1].timestamp, ids[e[1].uuid]), reverse=True):
        cells = (
            ids[log.uuid],
            _iso_ms(log.timestamp),
            env,
            log.method,
            log.url,
            log.path,
            log.status_code,
            round(log.response_time * 1000, 3),
            log.request_size,
            log.response_size,
            log.consumer,
            log.client_ip,
            log.exception.type if log.exception else None,
            log.trace_id,
        )
        writer.writerow([csv_export.escape_cell(c) for c in cells])
    return out.getvalue()


@pytest.mark.parametrize("export_batch", [7, 10_000])
def test_the_export_is_byte_for_byte_the_csv_of_the_logs_sent(
    api: Any, web: Any, monkeypatch: pytest.MonkeyPatch, export_batch: int
) -> None:
    monkeypatch.setattr(reads, "EXPORT_BATCH", export_batch)
    monkeypatch.setattr(request_log_csv_pg, "BATCH", export_batch)  # PostgreSQL writes the CSV itself
    logs = [("prod" if i % 3 else "dev", _tricky(i)) for i in range(40)]
    for env in ("prod", "dev"):
        store_logs(api.writer.db, api.app_id, env, [log for e, log in logs if e == env], T0 + 3600)
    with api.writer.db.read() as conn:
        ids = dict(conn.execute(sa.select(request_logs.c.uuid, request_logs.c.id)).all())
    expected = _expected(logs, ids)
    assert expected.count("'") >= 20  # the data does hold formulas to escape
    response = api.client.get(f"/api/v1/apps/{api.app_id}/request-logs", params={**WINDOW, "format": "csv"})
    assert response.status_code == 200
    assert response.content == expected.encode()
    web.user("vic@example.com", teams.DEFAULT_TEAM, "viewer")
    page = web.signed_in("vic@example.com").get(f"/apps/{api.app_id}/request-logs.csv", params=WINDOW)
    assert page.status_code == 200 and page.content == expected.encode()
    # One env, and the row cap inside a batch.
    monkeypatch.setattr(csv_export, "MAX_ROWS", 5)
    capped = api.client.get(
        f"/api/v1/apps/{api.app_id}/request-logs", params={**WINDOW, "format": "csv", "env": "prod"}
    )
    prod = _expected([(e, log) for e, log in logs if e == "prod"], ids).split("\r\n")
    assert capped.text == "\r\n".join(prod[:6]) + "\r\n"


def test_an_export_with_no_row_is_its_header(api: Any) -> None:
    response = api.client.get(f"/api/v1/apps/{api.app_id}/request-logs", params={**WINDOW, "format": "csv"})
    assert response.text == ",".join(csv_export.REQUEST_LOG_HEADER) + "\r\n"


def test_client_ip_and_exception_type_columns_are_the_logs_and_are_cut(api: Any) -> None:
    logs = [_tricky(i) for i in range(12)]
    logs[0].client_ip = "f" * 100  # longer than any address: stored cut, as the column holds it
    logs[1].client_ip = "10.0.0.\x00"  # NUL, which a PostgreSQL text cannot hold: stored as U+FFFD
    logs[3].exception = batch.ExceptionInfo("Bad\x00Error", "m", "tb", None)
    store_logs(api.writer.db, api.app_id, "prod", logs, T0 + 3600)
    with api.writer.db.read() as conn:
        stored = {
            r.uuid: (r.client_ip, r.exception_type)
            for r in conn.execute(
                sa.select(request_logs.c.uuid, request_logs.c.client_ip, request_logs.c.exception_type)
            )
        }
    assert stored == {
        log.uuid: (
            log.client_ip[: batch.CLIENT_IP_CHARS].replace("\x00", "\ufffd") if log.client_ip else None,
            log.exception.type.replace("\x00", "\ufffd") if log.exception else None,
        )
        for log in logs
    }
    found = api.get("/request-logs", limit=100, client_ip="2001:db8::1", **WINDOW)["items"]
    assert sorted(i["uuid"] for i in found) == sorted(
        log.uuid for log in logs if log.client_ip == "2001:db8::1"
    )
    assert found


def _export(api: Any, max_rows: int = csv_export.MAX_ROWS) -> Any:
    with api.writer.db.read() as conn:
        resolved = resolve(conn, api.app_id, Filters())
        terms = reads.conditions(conn, resolved, WINDOW["start"], WINDOW["end"], None, LogFilters())
    assert terms is not None
    return reads.iter_export_batches(api.writer.db, resolved, terms, max_rows)


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "request-log-export"]


def test_the_export_reads_ahead_in_a_thread_that_stops_when_the_download_does(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "EXPORT_BATCH", 7)
    store_logs(api.writer.db, api.app_id, "prod", [_tricky(i) for i in range(40)], T0 + 3600)
    whole = [row.id for rows in _export(api) for row in rows]
    assert len(whole) == 40 and whole == sorted(whole, reverse=True) and not _readers()
    batches = _export(api)
    first = next(batches)
    assert len(first) == 7 and len(_readers()) == 1  # reading on while the caller holds a batch
    batches.close()  # the client went away
    assert not _readers()


def test_a_failed_read_fails_the_export(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "EXPORT_BATCH", 7)
    store_logs(api.writer.db, api.app_id, "prod", [_tricky(i) for i in range(40)], T0 + 3600)
    real = reads._env_batches

    def failing(*args: Any) -> Any:
        yield from itertools.islice(real(*args), 1)
        raise sa.exc.OperationalError("SELECT", {}, Exception("the database went away"))

    monkeypatch.setattr(reads, "_env_batches", failing)
    with pytest.raises(sa.exc.OperationalError, match="went away"):
        for _ in _export(api):
            pass
    assert not _readers()
