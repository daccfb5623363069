"""Request-log body search: decoded body columns, their text indexes per engine, an index on trace ids

Revision ID: 0025
Revises: 0017

SQLite: an FTS5 trigram table over the body columns (external content, kept by triggers). PostgreSQL:
the pg_trgm extension and a GIN index per body column. Rows stored before this revision have no body
text: their bodies are not searched (they age out with request-log retention).
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0022"
branch_labels = None
depends_on = None

COLUMNS = ("request_body_text", "response_body_text")
FTS = "request_logs_fts"


def upgrade() -> None:
    with op.batch_alter_table("request_logs") as batch_op:
        for column in COLUMNS:
            batch_op.add_column(sa.Column(column, sa.Text(), nullable=True))
        batch_op.create_index(op.f("ix_request_logs_env_id_trace_id"), ["env_id", "trace_id"])
    if op.get_bind().dialect.name == "sqlite":
        cols = ", ".join(COLUMNS)
        new = ", ".join(f"new.{c}" for c in COLUMNS)
        old = ", ".join(f"old.{c}" for c in COLUMNS)
        op.execute(
            f"CREATE VIRTUAL TABLE {FTS} USING fts5({cols}, content='request_logs', "
            "content_rowid='id', tokenize='trigram')"
        )
        # Only rows with a body enter the index: most requests are logged without one.
        has_body = " OR ".join(f"{{row}}.{c} IS NOT NULL" for c in COLUMNS)
        op.execute(
            f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON request_logs WHEN {has_body.format(row='new')} "
            f"BEGIN INSERT INTO {FTS}(rowid, {cols}) VALUES (new.id, {new}); END"
        )
        op.execute(
            f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON request_logs WHEN {has_body.format(row='old')} "
            f"BEGIN INSERT INTO {FTS}({FTS}, rowid, {cols}) VALUES ('delete', old.id, {old}); END"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in COLUMNS:
            op.execute(
                f"CREATE INDEX ix_request_logs_{column}_trgm ON request_logs "
                f"USING gin ({column} gin_trgm_ops)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {FTS}_insert")
        op.execute(f"DROP TRIGGER IF EXISTS {FTS}_delete")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    else:
        for column in COLUMNS:
            op.execute(f"DROP INDEX IF EXISTS ix_request_logs_{column}_trgm")
    with op.batch_alter_table("request_logs") as batch_op:
        batch_op.drop_index(op.f("ix_request_logs_env_id_trace_id"))
        for column in COLUMNS:
            batch_op.drop_column(column)
