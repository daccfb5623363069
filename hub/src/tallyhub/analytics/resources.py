"""CPU and memory of an app's instances over a time range, per env, beside that env's request rate."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from tallyhub.analytics.times import iso
from tallyhub.metrics import reads as metrics
from tallyhub.metrics import resources
from tallyhub.metrics.selection import Selection, TimeRange
from tallyhub.storage.tables import MINUTE

_EMPTY = resources.Resources()


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _point(bucket: int, found: resources.Resources, requests: int, step: int) -> dict[str, Any]:
    return {
        "time": iso(bucket),
        "cpu_min": _rounded(found.cpu.low),
        "cpu_avg": _rounded(found.cpu.mean),
        "cpu_max": _rounded(found.cpu.high),
        "memory_min": None if found.memory.low is None else int(found.memory.low),
        "memory_avg": None if found.memory.mean is None else int(found.memory.mean),
        "memory_max": None if found.memory.high is None else int(found.memory.high),
        "requests": requests,
        "requests_per_minute": round(requests * MINUTE / step, 2),
    }


def resource_series(conn: sa.Connection, resolved: Selection, tr: TimeRange) -> list[dict[str, Any]]:
    """Per selected env that reported resources in the range: every bucket of `tr` with the min, average
    and max of its instances' CPU (percent) and memory (bytes) samples (None where none reported), and the
    env's requests per minute in that bucket, so both share one time axis."""
    found = resources.read(conn, resolved.env_ids, tr.start, tr.end, tr.step)
    listed = []
    for env_id in sorted(resolved.env_ids, key=lambda i: resolved.env_names[i]):
        if not any(key[0] == env_id for key in found):
            continue
        one_env = dataclasses.replace(resolved, env_ids=(env_id,))
        per_bucket = metrics.tallies(conn, one_env, tr, "bucket", with_histograms=False)
        series = [
            _point(
                bucket,
                found.get((env_id, bucket), _EMPTY),
                tally.requests if (tally := per_bucket.get(bucket)) is not None else 0,
                tr.step,
            )
            for bucket in tr.buckets()
        ]
        listed.append({"env": resolved.env_names[env_id], "series": series})
    return listed
