"""The text indexes of request-log bodies, which tables.py cannot declare: one per engine (migration 0025).

SQLite: an FTS5 table with the trigram tokenizer over request_logs' body columns (external content, kept
in step by triggers), so a substring of 3+ characters is a MATCH of a quoted phrase. PostgreSQL: pg_trgm
GIN indexes on the same columns, which ILIKE '%…%' uses.
"""

from __future__ import annotations

import sqlalchemy as sa

FTS_TABLE = "request_logs_fts"
COLUMNS = ("request_body_text", "response_body_text")
# What the schema comparison with tables.py must not count as a difference.
SQLITE_OBJECTS = (FTS_TABLE, *(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize", "config")))
POSTGRES_INDEXES = tuple(f"ix_request_logs_{column}_trgm" for column in COLUMNS)
MIN_INDEXED = 3  # a trigram index finds substrings of at least 3 characters; shorter ones scan


def sqlite_fts_match(id_column: sa.ColumnElement[int], column: str, needle: str) -> sa.ColumnElement[bool]:
    """`id_column` among the rows whose body `column` contains `needle` (3+ characters, any case)."""
    phrase = '"' + needle.replace('"', '""') + '"'
    query: sa.BindParameter[str] = sa.bindparam(f"fts_{column}", f"{{{column}}} : {phrase}", unique=True)
    ids = (
        sa.select(sa.literal_column("rowid", sa.Integer))
        .select_from(sa.table(FTS_TABLE))
        .where(sa.literal_column(FTS_TABLE).op("MATCH")(query))
    )
    return id_column.in_(ids)
