"""A rule's check schedule: "check every" alone, or also a cron expression (read in the rule's time zone).

With a cron expression a rule is checked only in the minutes the expression matches, and at most once
per "check every" interval: `* 9-17 * * 1-5` with 5 min checks every 5 minutes in business hours only.
Outside its schedule a rule is not checked at all, so its state (a firing alert too) stays as the last
check left it until the next scheduled check. Cron syntax and its matching are cronsim's (the five
fields of crontab, with L, W and # as in cronsim).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

UTC = "UTC"
MAX_SCHEDULE_CHARS = 100


class ScheduleError(ValueError):
    """The expression or time zone is not usable; the message says why."""


def zone(name: str | None) -> ZoneInfo:
    """The rule's time zone (UTC when it has none); ScheduleError for a name the zone database lacks."""
    try:
        return ZoneInfo(name or UTC)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{name!r} is not a time zone name (e.g. Europe/Berlin, America/New_York)"
        ) from None


def check(expression: str, tz_name: str | None) -> None:
    """Raise ScheduleError unless the expression parses and can match (cronsim rejects "0 0 30 2 *")."""
    if len(expression) > MAX_SCHEDULE_CHARS or "\x00" in expression:
        raise ScheduleError(f"at most {MAX_SCHEDULE_CHARS} characters")
    if len(expression.split()) != 5:
        raise ScheduleError("a cron expression has five fields: minute hour day-of-month month day-of-week")
    tz = zone(tz_name)
    try:
        next(CronSim(expression, datetime.now(tz)))
    except CronSimError as exc:
        raise ScheduleError(f"{expression!r} is not a valid cron expression ({exc})") from None
    except StopIteration:
        raise ScheduleError(f"{expression!r} never matches") from None


def in_schedule_from(expression: str, tz_name: str | None, at: float) -> float:
    """The first moment from `at` on that lies in a minute the expression matches (`at` itself if it does)."""
    minute = int(at // 60) * 60
    # cronsim yields matches strictly after its start: start just before the minute holding `at`.
    start = datetime.fromtimestamp(minute - 1, zone(tz_name))
    return max(next(CronSim(expression, start)).timestamp(), at)


def next_check(schedule: str | None, tz_name: str | None, interval_seconds: int, after: float) -> float:
    """When the check after one at `after` is due: one interval on, then the schedule's next minute."""
    due = after + interval_seconds
    return due if not schedule else in_schedule_from(schedule, tz_name, due)


def first_check(schedule: str | None, tz_name: str | None, now: float) -> float:
    """When a new, edited or resumed rule is first checked: at once, or at its schedule's next minute."""
    return now if not schedule else in_schedule_from(schedule, tz_name, now)
