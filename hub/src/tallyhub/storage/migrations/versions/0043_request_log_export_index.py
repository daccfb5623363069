"""SQLite: an index covering the CSV export's columns of request logs, which the export reads instead
of the table

Revision ID: 0043
Revises: 0042

A logged request's row is ~4.7 KB on SQLite (details JSON, the bodies as text), so reading the export's
~150 bytes of columns from the table reads a page or more per row, and client_ip and exception_type
(migration 0031) sit after the bodies, in overflow pages: 11,500 rows/s at 5,000,000 logs, from disk
once the file outgrows the page cache. This index holds those columns in (env_id, timestamp, id) order,
the export's (and the explorer's) order, ~25 rows to a page; SQLite reads the export from it alone.
The filter columns are in it too, so a filtered export (but has-exception, which reads details) stays
in the index. PostgreSQL is unchanged: its rows keep the bodies out of line (TOAST), and its export
path is its own.
"""

from alembic import op

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

NAME = "ix_request_logs_export"
COLUMNS = (
    "env_id",
    "timestamp",
    "id",
    "method",
    "url",
    "path",
    "endpoint_id",
    "status_code",
    "response_time",
    "request_size",
    "response_size",
    "consumer_id",
    "client_ip",
    "exception_type",
    "trace_id",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    op.execute(f"CREATE INDEX IF NOT EXISTS {NAME} ON request_logs ({', '.join(COLUMNS)})")
    if _analyzed(bind):
        # As in migration 0040: an index without statistics beside analyzed ones misleads the planner.
        op.execute(f"ANALYZE {NAME}")


def _analyzed(bind: object) -> bool:
    execute = bind.exec_driver_sql  # type: ignore[attr-defined]
    if execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
        return False
    return execute("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'request_logs' LIMIT 1").first() is not None


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP INDEX IF EXISTS {NAME}")
