"""A page of consumers ordered by a count (requests or errors over a range), then by identifier.

The order: descending, the consumers with a count by count then identifier, then those without (zero) by
identifier; ascending, those without first (by identifier), then the others by count then identifier.
Either way the consumers' totals are sorted by their count before the join to consumers, so that only the
first counts' consumers are looked up for the tie-break by identifier (PostgreSQL sorts by identifier
incrementally; SQLite reads the sorted totals as a co-routine), and those without a count are read only when
the page reaches them. Ascending, that is the same as descending: sorting every consumer outer-joined to
its total (the way before) cost 402 ms at 100,000 consumers.

A deep page (offset 50,000) that way still joins and sorts every consumer before it. The counts of 100,000
consumers tie by thousands (few distinct values), so there the totals are summed once (a materialised CTE)
and counted per distinct count (where each count's run starts in the order); only the consumers of the
runs the page overlaps are joined and numbered by identifier.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.paging import Page
from tallyhub.storage.join_order import left_first_join
from tallyhub.storage.tables import NO_ID, consumers

DEEP_OFFSET = 1000  # from this offset on, pages are read from the runs of equal counts


def page_ids(
    conn: sa.Connection,
    filtered: sa.Select,
    totals: sa.Subquery,
    key: sa.ColumnElement[Any],
    page: Page,
    total: int,
) -> list[int]:
    """The page's consumer ids. `filtered` is `SELECT consumers.id` with the list's WHERE (the `total`
    consumers listed); `totals` has consumer_id and the count `key` of each consumer with requests (only
    those `filtered` selects: the same env and consumer filters)."""
    # NO_ID: the metric rows' requests without a consumer, which no consumer row lists.
    with_count = sa.select(totals.c.consumer_id, key.label("n")).where(key > 0, totals.c.consumer_id != NO_ID)
    if page.offset >= DEEP_OFFSET:
        return _from_runs(conn, filtered, with_count, page, total)
    return _in_order(conn, filtered, with_count, page, total)


def _idle(filtered: sa.Select, with_count: sa.Select) -> sa.Select:
    """The consumers without a count, by identifier."""
    without = consumers.c.id.not_in(sa.select(with_count.subquery().c.consumer_id))
    return filtered.where(without).order_by(consumers.c.identifier)


def _n_counted(conn: sa.Connection, with_count: sa.Select) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(with_count.subquery())).scalar_one())


def _sorted_first(with_count: sa.Select, desc: bool, *extra: sa.ColumnElement[Any]) -> sa.Subquery:
    n = with_count.selected_columns.n
    return with_count.add_columns(*extra).order_by(n.desc() if desc else n.asc()).subquery("ranked")


def _counted(filtered: sa.Select, ranked: sa.Subquery, desc: bool) -> sa.Select:
    """The consumers with a count: the sorted totals joined to consumers, by count then identifier."""
    joined = left_first_join(ranked, consumers, consumers.c.id == ranked.c.consumer_id)
    by = ranked.c.n.desc() if desc else ranked.c.n.asc()
    return filtered.select_from(joined).order_by(by, consumers.c.identifier)


def _in_order(
    conn: sa.Connection, filtered: sa.Select, with_count: sa.Select, page: Page, total: int
) -> list[int]:
    if page.desc:
        counted = _counted(filtered, _sorted_first(with_count, True), True)
        top = list(conn.execute(counted.limit(page.limit).offset(page.offset)).scalars())
        if len(top) == page.limit:
            return top
        n_counted = page.offset + len(top) if top else _n_counted(conn, with_count)
        rest = _idle(filtered, with_count).limit(page.limit - len(top))
        return top + list(conn.execute(rest.offset(max(0, page.offset - n_counted))).scalars())
    # Ascending, the consumers without a count come first: there are total - (those with one), which the
    # counted page says (a count over the totals) when it guesses right that none come before it (usually:
    # they have requests in the range); else they are counted apart (a second sum of the totals).
    counted_all = sa.func.count().over().label("counted")
    if conn.dialect.name == "sqlite":  # it flattens the sorted totals into the join; the window keeps them
        sized = with_count.add_columns(counted_all).subquery("ranked")  # apart: unsorted, not sorted twice
    else:
        sized = _sorted_first(with_count, False, counted_all)
    guess = _counted(filtered.add_columns(sized.c.counted), sized, False)
    rows = conn.execute(guess.limit(page.limit).offset(page.offset)).all()
    n_idle = total - int(rows[0].counted) if rows else total - _n_counted(conn, with_count)
    if n_idle == 0:
        return [int(row.id) for row in rows]
    ids: list[int] = []
    if page.offset < n_idle:
        first = _idle(filtered, with_count).limit(min(page.limit, n_idle - page.offset))
        ids = list(conn.execute(first.offset(page.offset)).scalars())
    if len(ids) < page.limit:
        rest = _counted(filtered, _sorted_first(with_count, False), False).limit(page.limit - len(ids))
        ids += conn.execute(rest.offset(max(0, page.offset - n_idle))).scalars()
    return ids


def _from_runs(
    conn: sa.Connection, filtered: sa.Select, with_count: sa.Select, page: Page, total: int
) -> list[int]:
    ranked = with_count.cte("ranked").prefix_with("MATERIALIZED")
    sizes = sa.select(ranked.c.n, sa.func.count().label("size")).group_by(ranked.c.n).cte("sizes")
    order = sizes.c.n.desc() if page.desc else sizes.c.n.asc()
    counted = sa.func.sum(sizes.c.size).over()
    # Ascending, the consumers without a count (total - counted of them) come first.
    idle_first = sa.literal(total, sa.BigInteger) - counted if not page.desc else sa.literal(0, sa.BigInteger)
    runs = sa.select(
        sizes.c.n,
        sizes.c.size,
        (idle_first + sa.func.sum(sizes.c.size).over(order_by=order) - sizes.c.size).label("start"),
    ).subquery("runs")
    end = page.offset + page.limit
    overlapping = (
        sa.select(runs.c.n, runs.c.start)
        .where(runs.c.start < end, runs.c.start + runs.c.size > page.offset)
        .subquery("overlapping")
    )
    numbered = sa.func.row_number().over(partition_by=ranked.c.n, order_by=consumers.c.identifier)
    placed = (
        filtered.add_columns((overlapping.c.start + numbered - 1).label("pos"))
        # Read in this order on SQLite: the totals, each checked against the few overlapping counts, then
        # the consumers of those by id (it otherwise walked every consumer of the app and looked its total
        # up; with the counts first, it indexed the 100,000 totals by count: 176-188 -> 148-167 ms of CPU
        # for the page at offset 50,000, and the in-order read took 137-196).
        .select_from(
            left_first_join(
                left_first_join(ranked, overlapping, overlapping.c.n == ranked.c.n),
                consumers,
                consumers.c.id == ranked.c.consumer_id,
            )
        )
        .subquery("placed")
    )
    summary = sa.select(sa.func.coalesce(sa.func.sum(sizes.c.size), 0).label("counted")).subquery("summary")
    on_page = (
        sa.select(summary.c.counted, placed.c.id, placed.c.pos)
        .select_from(summary.outerjoin(placed, sa.and_(placed.c.pos >= page.offset, placed.c.pos < end)))
        .order_by(placed.c.pos)
    )
    rows = conn.execute(on_page).all()
    n_counted = int(rows[0].counted)
    ids = [int(row.id) for row in rows if row.id is not None]
    # The consumers without a count, by identifier: after the counted ones descending, before them ascending.
    idle_start = n_counted if page.desc else 0
    idle_end = total if page.desc else total - n_counted
    first, last = max(page.offset, idle_start), min(end, idle_end)
    if first >= last:
        return ids
    idle = _idle(filtered, with_count).limit(last - first).offset(first - idle_start)
    idle_ids = list(conn.execute(idle).scalars())
    return ids + idle_ids if page.desc else idle_ids + ids
