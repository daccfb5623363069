"""Cumulative metric streams into deltas: each stream's last totals are kept in `metric_streams`.

OpenTelemetry SDKs export cumulative histograms by default: each point holds every request since the
stream's start. The hub counts the difference from the stream's previous point, in the transaction that
stores the export, so that it survives hub restarts and works across hub processes. A point with a later
start time, or with fewer requests than before, is a reset: all of it is new. A point no newer than the
stored one (an export re-sent out of order) adds nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from tallyhub.metrics.writes import RequestMetrics
from tallyhub.storage.tables import metric_streams

DURATION, REQUEST_SIZE, RESPONSE_SIZE = "duration", "request_size", "response_size"
READ_CHUNK = 500  # stream keys per SELECT ... IN


@dataclasses.dataclass(slots=True)
class CumulativePoint:
    """One cumulative histogram point of a stream: totals since `start_ns`, as of `time_ns`."""

    stream: str  # the stream's identity (a hex digest, at most 64 characters)
    start_ns: int
    time_ns: int
    consumer: str | None
    method: str
    path: str
    status_code: int
    role: str  # DURATION, REQUEST_SIZE or RESPONSE_SIZE
    count: int
    sum: int  # bytes, for the size roles
    histogram: dict[int, int]  # hub bins: 10 ms for the duration, 1 KB for sizes

    @property
    def at(self) -> float:
        return self.time_ns / 1e9


@dataclasses.dataclass(slots=True)
class _State:
    start_ns: int
    time_ns: int
    count: int
    sum: int
    histogram: dict[int, int]
    stored: bool  # a row exists (UPDATE) or not (INSERT)
    changed: bool = False


def deltas(
    conn: sa.Connection, env_id: int, points: Sequence[CumulativePoint], now: float
) -> list[RequestMetrics]:
    """The new requests the points add since each stream's stored totals; stores the new totals."""
    if not points:
        return []
    states = _load(conn, env_id, {p.stream for p in points})
    out: list[RequestMetrics] = []
    for point in sorted(points, key=lambda p: p.time_ns):
        state = states.get(point.stream)
        if state is None:
            state = states[point.stream] = _State(point.start_ns, 0, 0, 0, {}, stored=False)
            previous: _State | None = None
        elif point.start_ns < state.start_ns or (
            point.start_ns == state.start_ns and point.time_ns <= state.time_ns
        ):
            continue  # older than what is stored: counted already
        elif point.start_ns > state.start_ns or point.count < state.count:
            previous = None  # a reset: the stream counts from zero again
        else:
            previous = state
        count, total, hist = point.count, point.sum, point.histogram
        if previous is not None:
            count -= previous.count
            total = max(total - previous.sum, 0)
            hist = {k: v - previous.histogram.get(k, 0) for k, v in hist.items()}
            hist = {k: v for k, v in hist.items() if v > 0}
        state.start_ns, state.time_ns = point.start_ns, point.time_ns
        state.count, state.sum, state.histogram = point.count, point.sum, dict(point.histogram)
        state.changed = True
        if count > 0 or total > 0:
            out.append(_metrics(point, count, total, hist))
    _save(conn, env_id, states, now)
    return out


def _metrics(point: CumulativePoint, count: int, total: int, hist: dict[int, int]) -> RequestMetrics:
    at = point.time_ns / 1e9
    key = (at, point.consumer, point.method, point.path, point.status_code)
    if point.role == DURATION:
        return RequestMetrics(*key, count, 0, 0, hist, {}, {})
    if point.role == REQUEST_SIZE:
        return RequestMetrics(*key, 0, total, 0, {}, hist, {})
    return RequestMetrics(*key, 0, 0, total, {}, {}, hist)


def _load(conn: sa.Connection, env_id: int, keys: Iterable[str]) -> dict[str, _State]:
    ordered = sorted(keys)
    c = metric_streams.c
    states: dict[str, _State] = {}
    for i in range(0, len(ordered), READ_CHUNK):
        query = sa.select(c.stream_key, c.start_ns, c.state).where(
            c.env_id == env_id, c.stream_key.in_(ordered[i : i + READ_CHUNK])
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # two exports of one stream at once: the second waits
        for key, start_ns, text in conn.execute(query):
            data: dict[str, Any] = orjson.loads(text)
            hist = {int(k): int(v) for k, v in data["h"].items()}
            states[key] = _State(int(start_ns), int(data["t"]), int(data["n"]), int(data["s"]), hist, True)
    return states


def _save(conn: sa.Connection, env_id: int, states: dict[str, _State], now: float) -> None:
    rows = [
        {
            "env_id": env_id,
            "stream_key": key,
            "start_ns": s.start_ns,
            "state": orjson.dumps(
                {"t": s.time_ns, "n": s.count, "s": s.sum, "h": s.histogram}, option=orjson.OPT_NON_STR_KEYS
            ).decode(),
            "updated_at": now,
            "stored": s.stored,
        }
        for key, s in states.items()
        if s.changed
    ]
    new = [{k: v for k, v in r.items() if k != "stored"} for r in rows if not r["stored"]]
    old = [
        {"b_env": r["env_id"], "b_key": r["stream_key"], "b_start": r["start_ns"], "b_state": r["state"]}
        for r in rows
        if r["stored"]
    ]
    if new:
        # Two first exports of one stream at once: the second's INSERT fails and the writer runs it again.
        conn.execute(metric_streams.insert(), new)
    if old:
        c = metric_streams.c
        stmt = (
            metric_streams.update()
            .where(c.env_id == sa.bindparam("b_env"), c.stream_key == sa.bindparam("b_key"))
            .values(start_ns=sa.bindparam("b_start"), state=sa.bindparam("b_state"), updated_at=now)
        )
        conn.execute(stmt, old)
