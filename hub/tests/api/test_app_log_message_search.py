"""App-log message search through the engine's text index (migration 0031; both engines): the pages are
the same whichever way SQLite answers (LIKE over the newest records, or FTS5), the FTS table follows
deletes, and the migration fills the new columns and the index from what was stored before it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tallyhub.analytics import app_logs as reads
from tallyhub.ingest import batch
from tallyhub.storage import text_search
from tallyhub.storage.migrate import alembic_config, upgrade
from tallyhub.storage.tables import app_log_records, request_logs

from tests.support import app_logs as data
from tests.support.request_logs import sample_log, store_logs

T0 = 1_795_651_200.0
WINDOW = {"start": T0, "end": T0 + 3600}


def _requests() -> list[batch.RequestLog]:
    logs = [data.request(i, T0) for i in range(data.N)]
    odd = logs[7].logs
    assert odd is not None
    odd[0].message = 'payment "declined" 100%_off'  # quotes, % and _ are text, not syntax
    return logs


@pytest.fixture
def stored(api: Any) -> list[data.Record]:
    prod = _requests()
    data.store(api.writer.db, api.app_id, "prod", prod, T0 + 3600)
    dev = [data.request(3, T0 + 5, env="dev")]
    data.store(api.writer.db, api.app_id, "dev", dev, T0 + 3600)
    return data.expected_records(prod, "prod") + data.expected_records(dev, "dev")


def _pages(api: Any, **params: Any) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    before = None
    while True:
        page = api.get("/app-logs", limit=4, **WINDOW, **params, **({"before": before} if before else {}))
        seen += [(i["env"], i["message"]) for i in page["items"]]
        before = page["next_before"]
        if before is None:
            return seen


def _expected(records: list[data.Record], needle: str, env: str | None = None) -> list[tuple[str, str]]:
    kept = [r for r in records if needle.lower() in r.message.lower() and env in (None, r.env)]
    return [(r.env, r.message) for r in sorted(kept, key=lambda r: r.timestamp, reverse=True)]


@pytest.mark.parametrize("probe_rows", [2000, 3, 0])
def test_message_pages_are_the_same_whichever_way_sqlite_answers(
    api: Any, stored: list[data.Record], monkeypatch: pytest.MonkeyPatch, probe_rows: int
) -> None:
    monkeypatch.setattr(reads, "PROBE_ROWS", probe_rows)
    for needle, env in (
        ("STEP", None),  # in every record
        ("order 2", None),  # orders 2 and 20-29
        ("order 3 step 1", "dev"),
        ('"declined" 100%_', None),
        ("0%", None),  # under 3 characters: no index
        ("nowhere", None),
    ):
        params = {"message": needle, **({"env": env} if env else {})}
        assert _pages(api, **params) == _expected(stored, needle, env), params
    assert _expected(stored, "STEP") and _expected(stored, '"declined" 100%_')


def test_deleted_records_leave_the_text_index(api: Any, stored: list[data.Record]) -> None:
    db = api.writer.db
    with db.write() as conn:
        conn.execute(app_log_records.delete().where(app_log_records.c.timestamp < T0 + 100))
    assert _pages(api, message="step") == _expected([r for r in stored if r.timestamp >= T0 + 100], "step")
    if db.is_sqlite:
        with db.read() as conn:
            indexed = set(
                conn.execute(sa.text(f"SELECT rowid FROM {text_search.APP_LOG_FTS_TABLE}")).scalars()
            )
            kept = set(conn.execute(sa.select(app_log_records.c.id)).scalars())
        assert indexed == kept and kept


def test_the_migration_fills_client_ip_exception_type_and_the_message_index(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = api.writer.db
    data.store(db, api.app_id, "prod", _requests(), T0 + 3600)
    logs = [sample_log(i, T0) for i in range(20)]
    logs[5].client_ip = None
    logs[3].client_ip = "10.0.0.\x00"  # NUL, which no PostgreSQL text holds
    logs[13].exception = batch.ExceptionInfo("Bad\x00Error", "m", "tb", None)
    store_logs(db, api.app_id, "dev", logs, T0 + 3600)
    columns = sa.select(request_logs.c.uuid, request_logs.c.client_ip, request_logs.c.exception_type)
    with db.read() as conn:
        before = set(conn.execute(columns).all())
    assert {row.exception_type for row in before} == {None, "ValueError", "Bad\ufffdError"}
    assert ("10.0.0.\ufffd", "ValueError") in {(row.client_ip, row.exception_type) for row in before}
    assert {row.client_ip for row in before} >= {None, "10.0.0.1"}
    config = alembic_config(db)
    previous = ScriptDirectory.from_config(config).get_revision("0031").down_revision
    assert isinstance(previous, str)
    command.downgrade(config, previous)
    with db.read() as conn:
        names = {c["name"] for c in sa.inspect(conn).get_columns("request_logs")}
    assert "client_ip" not in names and "exception_type" not in names
    upgrade(db)
    # The JSON functions fail on (PostgreSQL) or cut at (SQLite) a \u0000: such a row's columns stay NULL.
    nul = {logs[3].uuid, logs[13].uuid}
    before = {(u, None, None) if u in nul else (u, ip, exc) for u, ip, exc in before}
    with db.read() as conn:
        assert set(conn.execute(columns).all()) == before
    found = api.get("/request-logs", limit=100, client_ip="10.0.0.1", **WINDOW)["items"]
    assert sorted(i["uuid"] for i in found) == sorted(u for u, ip, _ in before if ip == "10.0.0.1")
    assert len(found) == 3  # 1, 9 and 17 (5 has none, 13 a NUL elsewhere in its details)
    monkeypatch.setattr(reads, "PROBE_ROWS", 0)  # the index alone answers, filled from the stored records
    assert [m for _, m in _pages(api, message="order 1 step")] == [
        f"order {i} step {k}" for i in (1,) for k in (1, 0)
    ]
