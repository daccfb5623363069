"""App-log and span rows at ingest (both engines): one per record, once per request, aged out with the
request logs, and read along their indexes."""

from __future__ import annotations

import re

import sqlalchemy as sa
from tallyhub.ingest import log_records, retention
from tallyhub.settings import load_settings
from tallyhub.storage import apps, bulk, span_bins
from tallyhub.storage.database import Database
from tallyhub.storage.tables import app_log_records, span_records

from tests.support import app_logs as data

T0 = 1_795_651_200.0
DAY = 86400.0


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        logs = conn.execute(sa.select(sa.func.count()).select_from(app_log_records)).scalar_one()
        found = conn.execute(sa.select(sa.func.count()).select_from(span_records)).scalar_one()
    return logs, found


def test_a_request_logged_twice_keeps_its_records_once(db: Database) -> None:
    app = apps.create_app(db, "shop", ("prod", "dev"))
    first = [data.request(i, T0) for i in range(3)]
    data.store(db, app.id, "prod", [*first, first[0]], T0)  # twice in one file, too
    assert _counts(db) == (6, 7)  # 2 records each; db.query + render each, http.call on request 0
    data.store(db, app.id, "prod", [first[1], data.request(3, T0)], T0)  # in another file
    assert _counts(db) == (8, 9)
    data.store(db, app.id, "dev", [first[1]], T0)  # the same uuid in another env is another request
    assert _counts(db) == (10, 11)


def test_levels_are_upper_case_and_texts_fit_their_columns(db: Database) -> None:
    app = apps.create_app(db, "shop", ("prod",))
    log = data.request(0, T0)
    assert log.logs is not None and log.spans is not None
    log.logs[0].level, log.logs[0].logger, log.logs[0].message = "warn" * 9, "l" * 300, "nul\x00here"
    log.spans[0].name = "n" * 300
    data.store(db, app.id, "prod", [log], T0)
    with db.read() as conn:
        row = conn.execute(sa.select(app_log_records).order_by(app_log_records.c.id)).first()
        names = set(conn.execute(sa.select(span_records.c.name)).scalars())
    assert row is not None and row.level == ("WARN" * 9)[:16] and len(row.logger) == 200
    assert row.message == "nul\ufffdhere" and "n" * 200 in names


def test_retention_deletes_them_with_the_request_logs(db: Database) -> None:
    app = apps.create_app(db, "shop", ("prod",))
    data.store(db, app.id, "prod", [data.request(0, T0 - 40 * DAY), data.request(1, T0)], T0)
    settings = load_settings({"database_url": "sqlite://", "retention_request_logs_days": 30}, environ={})
    retention.run(db, settings, T0)
    assert _counts(db) == (2, 2)  # request 1's: 2 records, db.query and render


def _plan(db: Database, query: sa.Select) -> str:
    """The engine's plan of `query`."""
    with db.read() as conn:
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        explain = "EXPLAIN QUERY PLAN" if db.is_sqlite else "EXPLAIN"
        plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql(f"{explain} {compiled}").all())
        if not db.is_sqlite:
            # The tables are partitioned (migration 0038): a plan names each slice's copy of an index,
            # which is told here by the name of the index it is a partition of.
            for child, parent in conn.exec_driver_sql(
                "SELECT c.relname, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE c.relkind = 'i'"
            ).all():
                plan = re.sub(rf"\b{child}\b", parent, plan)
        return plan


ROWS = 30_000  # over 30 days and 3 envs: enough for the planners to weigh their choices


def _fill(db: Database) -> list[int]:
    """ROWS log records and spans spread over 30 days and 3 envs, with the planners' statistics."""
    app = apps.create_app(db, "shop", ("prod", "dev", "stage"))
    with db.write() as conn:
        env_ids = sorted(apps.app_envs(conn, app.id))
        at = [T0 - 30 * DAY + i * 30 * DAY / ROWS for i in range(ROWS)]
        levels, loggers = ("INFO", "WARNING", "ERROR", "DEBUG"), [f"shop.m{i}" for i in range(20)]
        bulk.append(
            conn,
            app_log_records,
            log_records.LOG_COLUMNS,
            [
                (env_ids[i % 3], at[i], str(i), None, levels[i % 4], loggers[i % 20], f"message {i}")
                for i in range(ROWS)
            ],
        )
        names = [f"span.{i}" for i in range(15)]
        bulk.append(
            conn,
            span_records,
            log_records.SPAN_COLUMNS,
            [
                (env_ids[i % 3], at[i], str(i), None, names[i % 15], i % 97, span_bins.bin_of(i % 97))
                for i in range(ROWS)
            ],
        )
        conn.exec_driver_sql("ANALYZE")
    return env_ids


def test_the_pages_queries_read_along_indexes(db: Database) -> None:
    """The newest page, each filter, and the grouping over a day: an index walk each."""
    env_id, *others = _fill(db)
    day = T0 - DAY
    c = app_log_records.c
    newest = [c.timestamp.desc(), c.id.desc()]
    cases = {
        "ix_app_log_records_env_id_timestamp": sa.select(app_log_records).where(
            c.env_id == env_id, c.timestamp >= day
        ),
        "ix_app_log_records_env_id_level_timestamp": sa.select(app_log_records).where(
            c.env_id == env_id, c.level == "ERROR", c.timestamp >= day
        ),
        "ix_app_log_records_env_id_logger_timestamp": sa.select(app_log_records).where(
            c.env_id == env_id, c.logger == "shop.m3", c.timestamp >= day
        ),
    }
    for index, query in cases.items():
        plan = _plan(db, query.order_by(*newest).limit(51))
        assert index in plan, (index, plan)
    s = span_records.c
    grouped = (
        sa.select(s.name, s.duration_bin, sa.func.count())
        .where(s.env_id.in_((env_id, *others)), s.timestamp >= day, s.timestamp < T0)
        .group_by(s.name, s.duration_bin)
    )
    plan = _plan(db, grouped)
    assert "ix_span_records_env_id_timestamp_name_duration_bin" in plan, plan
    if db.is_sqlite:
        assert "COVERING INDEX" in plan, plan  # the grouping never reads the table
    example = (
        sa.select(s.request_uuid)
        .where(s.env_id == env_id, s.name == "span.3", s.timestamp >= day, s.duration_bin >= 80)
        .order_by(s.timestamp.desc())
        .limit(12)
    )
    assert "ix_span_records_env_id_name_timestamp_duration_bin" in _plan(db, example)
