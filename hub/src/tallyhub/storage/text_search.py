"""The text indexes of request-log bodies (migration 0025) and app-log messages (migration 0031), which
tables.py cannot declare: one per engine.

SQLite: an FTS5 table with the trigram tokenizer over the text columns (external content, kept in step
by triggers), so a substring of 3+ characters is a MATCH of a quoted phrase. PostgreSQL: pg_trgm GIN
indexes on the same columns, which ILIKE '%…%' uses.
"""

from __future__ import annotations

import sqlalchemy as sa

FTS_TABLE = "request_logs_fts"
COLUMNS = ("request_body_text", "response_body_text")
APP_LOG_FTS_TABLE = "app_log_records_fts"
_FTS_PARTS = ("data", "idx", "docsize", "config")
# What the schema comparison with tables.py must not count as a difference.
SQLITE_OBJECTS = tuple(
    name
    for table in (FTS_TABLE, APP_LOG_FTS_TABLE)
    for name in (table, *(f"{table}_{p}" for p in _FTS_PARTS))
)
POSTGRES_INDEXES = (
    *(f"ix_request_logs_{column}_trgm" for column in COLUMNS),
    "ix_app_log_records_message_trgm",
)
MIN_INDEXED = 3  # a trigram index finds substrings of at least 3 characters; shorter ones scan


def sqlite_fts_match(
    id_column: sa.ColumnElement[int], column: str, needle: str, fts_table: str = FTS_TABLE
) -> sa.ColumnElement[bool]:
    """`id_column` among the rows whose text `column` contains `needle` (3+ characters, any case)."""
    phrase = '"' + needle.replace('"', '""') + '"'
    query: sa.BindParameter[str] = sa.bindparam(f"fts_{column}", f"{{{column}}} : {phrase}", unique=True)
    ids = (
        sa.select(sa.literal_column("rowid", sa.Integer))
        .select_from(sa.table(fts_table))
        .where(sa.literal_column(fts_table).op("MATCH")(query))
    )
    return id_column.in_(ids)


def postgres_contains(column: sa.ColumnElement[str], needle: str) -> sa.ColumnElement[bool]:
    """`column` contains `needle`, any case, as a literal pattern (not '%' || :p || '%'), which lets the
    planner use the trigram index."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")
