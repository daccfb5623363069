"""Request logs' client IP and exception type as columns; a text index on app-log messages

Revision ID: 0031
Revises: 0029

request_logs gains `client_ip` (indexed with env_id and timestamp, for the client-IP filter) and
`exception_type` (for the CSV export), both copied from `details` for the rows stored before. Plain
ALTER TABLE ADD COLUMN: it works on SQLite without rebuilding the table and on a partitioned
PostgreSQL table. app_log_records' message gets the text index request-log bodies have (0025): an FTS5
trigram table kept by triggers on SQLite (filled from the existing rows), pg_trgm GIN on PostgreSQL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0032"
branch_labels = None
depends_on = None

FTS = "app_log_records_fts"
CLIENT_IP_CHARS = 64  # as tallyhub.ingest.request_logs cuts it


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("request_logs", sa.Column("client_ip", sa.String(CLIENT_IP_CHARS), nullable=True))
    op.add_column("request_logs", sa.Column("exception_type", sa.Text(), nullable=True))
    if sqlite:
        # json_extract cuts a string at \u0000: such rows are left out, as on PostgreSQL (below).
        op.execute(
            f"UPDATE request_logs SET client_ip = substr(json_extract(details, '$.client_ip'), 1, "
            f"{CLIENT_IP_CHARS}), exception_type = json_extract(details, '$.exception.type') "
            "WHERE instr(details, '\\u0000') = 0 AND (json_extract(details, '$.client_ip') IS NOT NULL "
            "OR json_extract(details, '$.exception.type') IS NOT NULL)"
        )
    else:
        # PostgreSQL's JSON operators fail on a document holding \u0000 (no text holds NUL): such rows
        # are left out (their columns stay NULL), tested on the raw text first (CASE keeps the order).
        op.execute(
            f"UPDATE request_logs SET client_ip = left(details->>'client_ip', {CLIENT_IP_CHARS}), "
            "exception_type = details->'exception'->>'type' "
            "WHERE CASE WHEN strpos(details::text, '\\u0000') = 0 "
            "THEN details->>'client_ip' IS NOT NULL OR details->'exception'->>'type' IS NOT NULL "
            "ELSE false END"
        )
    op.create_index(
        op.f("ix_request_logs_env_id_client_ip_timestamp"),
        "request_logs",
        ["env_id", "client_ip", "timestamp"],
    )
    if sqlite:
        op.execute(
            f"CREATE VIRTUAL TABLE {FTS} USING fts5(message, content='app_log_records', "
            "content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON app_log_records WHEN new.message IS NOT NULL "
            f"BEGIN INSERT INTO {FTS}(rowid, message) VALUES (new.id, new.message); END"
        )
        op.execute(
            f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON app_log_records WHEN old.message IS NOT NULL "
            f"BEGIN INSERT INTO {FTS}({FTS}, rowid, message) VALUES ('delete', old.id, old.message); END"
        )
        op.execute(
            f"INSERT INTO {FTS}(rowid, message) SELECT id, message FROM app_log_records "
            "WHERE message IS NOT NULL"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_app_log_records_message_trgm ON app_log_records USING gin (message gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {FTS}_insert")
        op.execute(f"DROP TRIGGER IF EXISTS {FTS}_delete")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    else:
        op.execute("DROP INDEX IF EXISTS ix_app_log_records_message_trgm")
    op.drop_index(op.f("ix_request_logs_env_id_client_ip_timestamp"), table_name="request_logs")
    op.execute("ALTER TABLE request_logs DROP COLUMN exception_type")
    op.execute("ALTER TABLE request_logs DROP COLUMN client_ip")
