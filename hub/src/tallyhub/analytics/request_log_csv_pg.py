"""The request-log CSV export on PostgreSQL: the server writes the CSV (`COPY (SELECT ...) TO STDOUT`).

The same bytes as csv_export.request_logs_csv (a test compares them on tricky rows), for a few times
less CPU: the hub only joins the rows COPY sends. What csv_export does in Python is done here in SQL:

- formula escaping: a text cell starting with = + - @ tab or CR gets an apostrophe (`ascii()` of the
  first character, a cheap integer test); an empty text becomes NULL, which COPY writes as nothing, as
  the csv module writes "" (COPY would write an empty string as `""`);
- the time: ISO 8601 UTC to the millisecond, the milliseconds truncated as int() does;
- the response time: Python's `repr(round(seconds * 1000, 3))`, see _RESPONSE_MS;
- the line end: COPY ends a line with LF, the csv module with CRLF. Each line ends with one more
  column holding a CR, which COPY writes quoted, `,"<CR>"<LF>`; that sequence cannot occur anywhere
  else in CSV text (a quote inside a quoted cell is doubled, and a quoted cell of just CR ends the line
  only as the last column), so one bytes.replace per batch makes the CRLF.

Batches are read as in request_logs.iter_export_batches: newest first, keyset on (timestamp, id), each
in a short transaction of its own (REPEATABLE READ, so that the lookup of the last row's timestamp sees
what the COPY saw), all envs in one query whose per-env branches PostgreSQL merges in time order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from tallyhub.metrics.selection import Selection
from tallyhub.storage.database import Database
from tallyhub.storage.tables import consumers, request_logs

# The first characters (as ascii() gives them) that csv_export escapes: = + - @ tab CR.
_FORMULA_CODES = "61, 43, 45, 64, 9, 13"


def _text(column: str) -> str:
    escaped = f"'''' || {column}"
    return f"CASE WHEN ascii({column}) IN ({_FORMULA_CODES}) THEN {escaped} ELSE NULLIF({column}, '') END"


# Python: time.strftime("%Y-%m-%dT%H:%M:%S", gmtime(int(t))) + f".{int((t - int(t)) * 1000):03d}Z" (t >= 0).
# A timestamp's text (DateStyle ISO) costs a fifth of to_char's.
_TIME = (
    "replace((timestamp '1970-01-01' + trunc(f.ts) * interval '1 second')::text, ' ', 'T')"
    " || '.' || lpad(trunc((f.ts - trunc(f.ts)) * 1000)::int::text, 3, '0') || 'Z'"
)

# round(v, 3) for v = response_time * 1000 (>= 0), as the float nearest to the correctly rounded decimal
# (what Python's round gives). Usually round(v * 1000) / 1000 in float arithmetic: when v * 1000 lies
# further than 0.001 from a half (its rounding error is below 2^-13 under 1e12), it rounds to the same
# integer as the exact value, and the division rounds as Python's decimal-to-float does. Else (about
# one value in 500) from v's bits, v = m / 2^k: q = floor(v * 1000) = (m * 1000) >> k, rounded half to
# even by the remainder, in 64-bit integers (m * 1000 < 2^63; 1 <= k <= 63 for any v from 0.0004 to 2^52
# ms, and ingestion keeps v under 1e13: response times under 1e7 s, OTLP spans under 2^63 ns).
_EXACT_ROUND3 = """(
SELECT ((q + CASE WHEN r > h OR (r = h AND q & 1 = 1) THEN 1 ELSE 0 END)::text || 'e-3')::float8
FROM (SELECT q, mt - (q << k) AS r, 1::bigint << (k - 1) AS h
  FROM (SELECT mt >> k AS q, mt, k
    FROM (SELECT ((b & 4503599627370495) | 4503599627370496) * 1000 AS mt, (1075 - (b >> 52))::int AS k
      FROM (SELECT ('x' || encode(float8send({rt} * 1000), 'hex'))::bit(64)::bigint AS b) AS bits
    ) AS parts
  ) AS floor
) AS rest)"""


def _rounded_ms(rt: str) -> str:
    """The SQL of round(rt * 1000, 3) as Python computes it, for the float8 column `rt` (see above)."""
    u = f"(({rt} * 1000) * 1000)"
    fast = f"{u} < 1e12 AND abs({u} - trunc({u}) - 0.5) > 0.001"
    return f"CASE WHEN {fast} THEN round({u}) / 1000 ELSE {_EXACT_ROUND3.format(rt=rt)} END"


# repr of that float: PostgreSQL's float8 text is the shortest that reads back (extra_float_digits 1),
# as repr's digits are; repr adds ".0" to a whole number. Fixed notation for 0 and 0.001 to 1e15.
_RESPONSE_MS = "CASE WHEN f.ms = trunc(f.ms) THEN f.ms::text || '.0' ELSE f.ms::text END"

_CELLS = (
    "f.id",
    _TIME,
    _text("f.env"),
    _text("f.method"),
    _text("f.url"),
    _text("f.path"),
    "f.status_code",
    _RESPONSE_MS,
    "f.request_size",
    "f.response_size",
    _text("f.consumer"),
    _text("f.client_ip"),
    _text("f.exception_type"),
    _text("f.trace_id"),
    "E'\\r'",  # the CR of the line end (see the docstring)
)
_LINE_END = b',"\r"\n'
# Rows per COPY: planning a batch's query over the daily partitions takes ~4 ms, 0.4 µs a row at 10,000;
# a batch's CSV (~6 MB here) and its lines are what the export holds, twice with the read-ahead.
BATCH = 40_000
# The session settings the SQL text above relies on, for this transaction only.
_SETTINGS = ("SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL extra_float_digits = 1")


def _page(
    env_cells: dict[int, str | None],
    terms: list[sa.ColumnElement[bool]],
    after: tuple[float, int] | None,
    limit: int,
) -> sa.Select[Any]:
    """Up to `limit` rows of the envs, newest first, older than `after`: one branch per env, each along
    its (env_id, timestamp) index, merged by PostgreSQL (Merge Append)."""
    c = request_logs.c
    keyset = []
    if after is not None:  # as request_logs._older_than
        keyset = [c.timestamp <= after[0], sa.or_(c.timestamp < after[0], c.id < after[1])]
    branches = [
        sa.select(
            c.id,
            c.timestamp.label("ts"),
            sa.literal(cell, sa.Text).label("env"),
            c.method,
            c.url,
            c.path,
            c.status_code,
            sa.literal_column(_rounded_ms(f"{request_logs.name}.{c.response_time.name}")).label("ms"),
            c.request_size,
            c.response_size,
            consumers.c.identifier.label("consumer"),
            c.client_ip,
            c.exception_type,
            c.trace_id,
        )
        .select_from(request_logs.outerjoin(consumers, consumers.c.id == c.consumer_id))
        .where(c.env_id == env_id, *terms, *keyset)
        .order_by(c.timestamp.desc(), c.id.desc())
        .limit(limit)
        for env_id, cell in env_cells.items()
    ]
    if len(branches) == 1:
        return branches[0]
    merged = sa.union_all(*branches).subquery("merged")
    return sa.select(merged).order_by(merged.c.ts.desc(), merged.c.id.desc()).limit(limit)


def _copy_statement(conn: sa.Connection, page: sa.Select[Any]) -> tuple[str, dict[str, Any]]:
    compiled = page.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    # The outer ORDER BY is the page's own order: PostgreSQL sorts nothing for it.
    sql = (
        f"COPY (SELECT {', '.join(_CELLS)} FROM ({compiled}) AS f ORDER BY f.ts DESC, f.id DESC)"
        " TO STDOUT WITH (FORMAT csv)"
    )
    return sql, dict(compiled.params)


def csv_batches(
    db: Database,
    resolved: Selection,
    terms: list[sa.ColumnElement[bool]],
    env_cells: dict[int, str | None],
    max_rows: int,
    batch: int,
) -> Iterator[bytes]:
    """The CSV lines (no header) of up to `max_rows` rows newest first, `batch` rows a chunk.

    `env_cells`: each env's name as csv_export writes it (escaped), None for an empty one.
    """
    envs = {env_id: env_cells[env_id] for env_id in resolved.env_ids}
    left, after = max_rows, None
    while left > 0:
        limit = min(batch, left)
        data, count, after = _read_batch(db, envs, terms, after, limit)
        if count:
            yield data
        left -= count
        if count < limit:
            return


def _read_batch(
    db: Database,
    envs: dict[int, str | None],
    terms: list[sa.ColumnElement[bool]],
    after: tuple[float, int] | None,
    limit: int,
) -> tuple[bytes, int, tuple[float, int] | None]:
    """One batch's CSV bytes, its row count and its last row's (timestamp, id)."""
    with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        for setting in _SETTINGS:
            conn.exec_driver_sql(setting)
        sql, params = _copy_statement(conn, _page(envs, terms, after, limit))
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(sql, params) as copy:
            lines: Sequence[Any] = list(copy)  # a buffer per line
        if not lines:
            return b"", 0, after
        last_id = int(bytes(lines[-1][: bytes(lines[-1][:24]).index(b",")]))
        # Bounded by the range (conditions() puts its two time terms first), so that only the range's
        # day slices are probed, not every slice's primary key.
        last_ts = conn.execute(
            sa.select(request_logs.c.timestamp).where(
                request_logs.c.id == last_id, request_logs.c.env_id.in_(tuple(envs)), *terms[:2]
            )
        ).scalar_one()
    return b"".join(lines).replace(_LINE_END, b"\r\n"), len(lines), (last_ts, last_id)
