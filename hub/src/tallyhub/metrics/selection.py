"""What a read of tallies selects: rows (envs, endpoints, consumers, statuses) and aligned time buckets."""

from __future__ import annotations

import dataclasses

from tallyhub.storage.tables import DAY, HOUR, MINUTE

INTERVALS: dict[str, int] = {"minute": MINUTE, "hour": HOUR, "day": DAY}


@dataclasses.dataclass(frozen=True)
class Selection:
    """Filters as ids: `None` = not filtered; an empty tuple = nothing can match."""

    env_ids: tuple[int, ...]
    env_names: dict[int, str]
    endpoint_ids: tuple[int, ...] | None
    consumer_ids: tuple[int, ...] | None
    status_range: tuple[int, int] | None  # inclusive bounds


@dataclasses.dataclass(frozen=True)
class TimeRange:
    """[start, end) aligned to whole buckets of `step` seconds (UTC)."""

    start: int
    end: int
    interval: str

    @property
    def step(self) -> int:
        return INTERVALS[self.interval]

    def buckets(self) -> range:
        return range(self.start, self.end, self.step)
