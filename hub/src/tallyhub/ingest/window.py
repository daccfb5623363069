"""The times a payload may carry: from 25 hours before the hub's clock to 10 minutes after it.

Older data could only come from a client queue far past the 1 hour the official clients keep; later
data is a wrong clock. Either would land in buckets no rollup or retention pass expects (a sync dated
year 5138 is never deleted), so it is refused, naming the field, rather than stored.
"""

from __future__ import annotations

import dataclasses

from tallyhub.storage.tables import HOUR

PAST_SECONDS = 25 * HOUR
FUTURE_SECONDS = 10 * 60
NS = 1_000_000_000


class OutOfWindow(ValueError):
    """A time outside the window; `loc` is where it was in the payload."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{'.'.join(map(str, loc))}: {message}")
        self.loc = loc
        self.message = message


@dataclasses.dataclass(frozen=True)
class Window:
    """The window around `now` (epoch seconds)."""

    now: float

    def check(self, loc: tuple[str | int, ...], seconds: float) -> None:
        """Raise OutOfWindow unless `seconds` (epoch) lies within [now - 25 h, now + 10 min]."""
        if not self.now - PAST_SECONDS <= seconds <= self.now + FUTURE_SECONDS:
            raise OutOfWindow(
                loc,
                f"{seconds:.3f} is outside the accepted window [{self.now - PAST_SECONDS:.0f}, "
                f"{self.now + FUTURE_SECONDS:.0f}] (25 hours before the hub's clock to 10 minutes after)",
            )

    def check_ns(self, loc: tuple[str | int, ...], nanoseconds: int) -> None:
        """As `check`, for a time in nanoseconds since the epoch (spans)."""
        self.check(loc, nanoseconds / NS)
