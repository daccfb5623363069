"""What a read of tallies selects: rows (envs, endpoints, consumers, statuses) and aligned time buckets."""

from __future__ import annotations

import dataclasses

from tallyhub.storage.endpoint_settings import Rules
from tallyhub.storage.tables import DAY, HOUR, MINUTE

NO_RULES = Rules(frozenset(), {}, None)

INTERVALS: dict[str, int] = {"minute": MINUTE, "hour": HOUR, "day": DAY}


@dataclasses.dataclass(frozen=True)
class Selection:
    """Filters as ids: `None` = not filtered; an empty tuple = nothing can match."""

    env_ids: tuple[int, ...]
    env_names: dict[int, str]
    endpoint_ids: tuple[int, ...] | None
    consumer_ids: tuple[int, ...] | None
    status_range: tuple[int, int] | None  # inclusive bounds
    # Endpoint settings that change figures: expected statuses (successes) and endpoints' own Apdex T.
    rules: Rules = NO_RULES


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
