"""Ingestion over real sockets to `tallyhub serve`: chunked uploads, as the async Python client sends them."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import sqlalchemy as sa
from tallyhub.storage.database import Database
from tallyhub.storage.tables import metrics, request_logs

from tests.support.hub_process import HubProcess, free_port

DATA = Path(__file__).parent / "data"
CAPTURED_AT = 1795715150.0  # when the captured payloads were sent: moved to now, into the ingestion window


def fresh_sync() -> dict[str, object]:
    sync: dict[str, object] = json.loads((DATA / "python_flask_sync.json").read_text())
    sync["timestamp"] = time.time()
    return sync


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def log_body() -> bytes:
    lines = [json.loads(line) for line in (DATA / "python_log.ndjson").read_text().splitlines()]
    shift = time.time() - CAPTURED_AT
    for line in lines:
        line["request"]["timestamp"] += shift
        for record in line.get("logs") or ():
            record["timestamp"] += shift
        for span in line.get("spans") or ():
            span["start_time"] += int(shift * 1e9)
            span["end_time"] += int(shift * 1e9)
    return gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())


def stored_logs(database_url: str) -> int:
    db = Database(database_url)
    try:
        with db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(request_logs)).scalar_one())
    finally:
        db.dispose()


def test_chunked_log_upload_without_content_length(hub: HubProcess) -> None:
    client_id = hub.create_app("Shop", "prod")["client_id"]
    request = httpx.Request(
        "POST", f"{hub.url}/v2/{client_id}/prod/log?uuid={uuid.uuid4()}", content=chunks(log_body(), 50)
    )
    assert request.headers.get("transfer-encoding") == "chunked" and "content-length" not in request.headers
    assert "content-type" not in request.headers and "content-encoding" not in request.headers
    with httpx.Client() as client:
        response = client.send(request)
    assert response.status_code == 202, response.text
    assert stored_logs(hub.database_url) == 2


def test_limits_hold_for_chunked_bodies(database_url: str, tmp_path: Path) -> None:
    hub = HubProcess(database_url, free_port(), tmp_path / "hub.log")
    hub.start(TALLYHUB_MAX_BODY_BYTES="20000", TALLYHUB_MAX_LOG_BYTES="100000")
    try:
        client_id = hub.create_app("Shop", "prod")["client_id"]
        base = f"{hub.url}/v2/{client_id}/prod"
        bomb = gzip.compress(b"\n" * 20_000_000)
        assert len(bomb) < 20_000
        response = httpx.post(f"{base}/log?uuid={uuid.uuid4()}", content=chunks(bomb, 4096))
        assert response.status_code == 413
        assert "decompressed" in response.json()["detail"]
        big = b'{"instance_uuid": "' + b" " * 30_000 + b'"}'
        response = httpx.post(f"{base}/sync", content=chunks(big, 1000))
        assert response.status_code == 413
        assert response.json() == {"detail": "request body larger than 20000 bytes"}
        response = httpx.post(f"{base}/sync", content=big)  # with a Content-Length
        assert response.status_code == 413
        assert httpx.post(f"{base}/sync", json=fresh_sync()).status_code == 202  # the hub is fine afterwards
    finally:
        hub.stop()
    db = Database(database_url)
    with db.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.sum(metrics.c.request_count)).where(metrics.c.level == 0)).scalar()
            == 7
        )
    db.dispose()


def test_several_worker_processes_share_the_ingest(database_url: str, tmp_path: Path) -> None:
    hub = HubProcess(database_url, free_port(), tmp_path / "hub.log")
    hub.start(TALLYHUB_WORKERS="2")
    try:
        client_id = hub.create_app("Shop", "prod")["client_id"]
        sync = fresh_sync()
        with httpx.Client() as client:
            for _ in range(10):
                sync["message_uuid"] = str(uuid.uuid4())
                response = client.post(f"{hub.url}/v2/{client_id}/prod/sync", json=sync)
                assert response.status_code == 202, response.text
            assert client.post(f"{hub.url}/v2/{client_id}/prod/sync", json=sync).json() == {
                "status": "duplicate"
            }
    finally:
        hub.stop()
    db = Database(database_url)
    with db.read() as conn:
        total = conn.execute(
            sa.select(sa.func.sum(metrics.c.request_count)).where(metrics.c.level == 0)
        ).scalar()
    db.dispose()
    assert total == 70
