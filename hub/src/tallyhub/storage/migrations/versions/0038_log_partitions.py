"""PostgreSQL: request logs, app-log records and span records partitioned by RANGE (timestamp) in day slices

storage/partitions.py's LOG_SLICES. The rows move into the partitioned tables with their ids (the same
sequences go on numbering); the indexes are built after the copy, once per slice. Keys must hold the
partition key: each primary key is (id, timestamp), request_logs' unique (env_id, uuid) becomes
(env_id, uuid, timestamp). SQLite keeps its single tables: a no-op there. Downgrade copies the rows back
into plain tables.

Revision ID: 0038
Revises: 0041
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0041"
branch_labels = None
depends_on = None

DAY = 86400
# Frozen copies of storage/partitions.py's LOG_SLICES at this revision: day slices, from 2 days back to 3
# ahead of the clock, plus one for every day that holds rows.
WIDTH = DAY
AROUND_NOW = (-2 * DAY, 3 * DAY)

# The indexes at this revision (tables.py's and text_search.py's): table -> ((name, definition), ...).
INDEXES = {
    "request_logs": (
        ("ix_request_logs_env_id_timestamp", '(env_id, "timestamp")'),
        ("ix_request_logs_env_id_trace_id", "(env_id, trace_id)"),
        ("ix_request_logs_env_id_client_ip_timestamp", '(env_id, client_ip, "timestamp")'),
        ("ix_request_logs_request_body_text_trgm", "USING gin (request_body_text gin_trgm_ops)"),
        ("ix_request_logs_response_body_text_trgm", "USING gin (response_body_text gin_trgm_ops)"),
    ),
    "app_log_records": (
        ("ix_app_log_records_env_id_timestamp", '(env_id, "timestamp")'),
        ("ix_app_log_records_env_id_level_timestamp", '(env_id, level, "timestamp")'),
        ("ix_app_log_records_env_id_logger_timestamp", '(env_id, logger, "timestamp")'),
        ("ix_app_log_records_message_trgm", "USING gin (message gin_trgm_ops)"),
    ),
    "span_records": (
        ("ix_span_records_env_id_timestamp_name_duration_bin", '(env_id, "timestamp", name, duration_bin)'),
        ("ix_span_records_env_id_name_timestamp_duration_bin", '(env_id, name, "timestamp", duration_bin)'),
    ),
}
# Unique keys beside the primary key: (partitioned, plain).
UNIQUE = {
    "request_logs": (
        "CONSTRAINT uq_request_logs_env_id_uuid_timestamp UNIQUE (env_id, uuid, timestamp)",
        "CONSTRAINT uq_request_logs_env_id_uuid UNIQUE (env_id, uuid)",
    )
}


def _foreign_key(table: str) -> str:
    return f"CONSTRAINT fk_{table}_env_id_envs FOREIGN KEY (env_id) REFERENCES envs (id) ON DELETE CASCADE"


def _create_indexes(table: str) -> None:
    for name, definition in INDEXES[table]:
        op.execute(f"CREATE INDEX {name} ON {table} {definition}")


def _slice_name(parent: str, start: int) -> str:
    return f"{parent}_p{datetime.fromtimestamp(start, UTC):%Y%m%d}"


def _partition(conn: sa.Connection, table: str, now: float) -> None:
    for name, _ in INDEXES[table]:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER TABLE {table} RENAME TO {table}_plain")
    op.execute(f"ALTER TABLE {table}_plain RENAME CONSTRAINT pk_{table} TO pk_{table}_plain")
    if table in UNIQUE:
        op.execute(f"ALTER TABLE {table}_plain DROP CONSTRAINT {UNIQUE[table][1].split()[1]}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
    keys = [f"CONSTRAINT pk_{table} PRIMARY KEY (id, timestamp)", _foreign_key(table)]
    if table in UNIQUE:
        keys.append(UNIQUE[table][0])
    op.execute(
        f"CREATE TABLE {table} (LIKE {table}_plain INCLUDING DEFAULTS, {', '.join(keys)}) "
        "PARTITION BY RANGE (timestamp)"
    )
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    held = conn.execute(
        sa.text(f"SELECT DISTINCT floor(timestamp / {WIDTH})::bigint * {WIDTH} FROM {table}_plain")
    ).scalars()
    around = range(int(now + AROUND_NOW[0]) // WIDTH * WIDTH, int(now + AROUND_NOW[1]) + 1, WIDTH)
    for start in sorted({*map(int, held), *around}):
        op.execute(
            f"CREATE TABLE {_slice_name(table, start)} PARTITION OF {table} "
            f"FOR VALUES FROM ({start}) TO ({start + WIDTH})"
        )
    op.execute(f"INSERT INTO {table} SELECT * FROM {table}_plain")
    op.execute(f"DROP TABLE {table}_plain")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    _create_indexes(table)
    op.execute(f"ANALYZE {table}")


def _unpartition(table: str) -> None:
    op.execute(f"CREATE TABLE {table}_plain (LIKE {table} INCLUDING DEFAULTS)")
    op.execute(f"INSERT INTO {table}_plain SELECT * FROM {table}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
    op.execute(f"DROP TABLE {table}")  # its partitions and indexes with it
    op.execute(f"ALTER TABLE {table}_plain RENAME TO {table}")
    keys = [f"ADD CONSTRAINT pk_{table} PRIMARY KEY (id)", f"ADD {_foreign_key(table)}"]
    if table in UNIQUE:
        # Fails if one uuid was stored at two timestamps, which only the partitioned key allows.
        keys.append(f"ADD {UNIQUE[table][1]}")
    op.execute(f"ALTER TABLE {table} {', '.join(keys)}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    _create_indexes(table)
    op.execute(f"ANALYZE {table}")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    now = datetime.now(UTC).timestamp()
    for table in INDEXES:
        _partition(op.get_bind(), table, now)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in INDEXES:
        _unpartition(table)
