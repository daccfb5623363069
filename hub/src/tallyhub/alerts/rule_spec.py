"""What an alert rule says, checked field by field: the dashboard's form goes through `parse_form`."""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Mapping

from tallyhub.alerts import schedule as check_schedule
from tallyhub.alerts.rule_metrics import METRICS

KINDS: dict[str, str] = {
    "metric": "A metric crosses a threshold",
    "env_down": "Environment down (no instance syncs: heartbeat incident)",
    "health_check_failing": "Health check failing (health-check incident)",
    "consumer_quiet": "A consumer with steady traffic went quiet",
}
WINDOWS: dict[int, str] = {
    300: "5 min",
    900: "15 min",
    1800: "30 min",
    3600: "1 h",
    6 * 3600: "6 h",
    24 * 3600: "24 h",
}
INTERVALS: dict[int, str] = {60: "1 min", 300: "5 min", 900: "15 min", 3600: "1 h"}
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
COMPARISON_WORDS = {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}
SCOPES = ("consumer", "group", "endpoint")
MAX_STREAK = 100
MAX_BASELINE_HOURS = 7 * 24  # minute rows are kept 7 days by default; hours beyond come from hour rows


class RuleError(ValueError):
    """A field of a rule is invalid: `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclasses.dataclass(frozen=True)
class RuleSpec:
    """What a rule says, as a person set it (the stored rule, alerts.rules.Rule, extends it)."""

    name: str
    env: str
    kind: str
    metric: str | None
    window_seconds: int
    interval_seconds: int
    comparison: str
    threshold: float
    scope: str | None
    scope_value: str | None
    baseline_hours: int
    fire_after: int
    resolve_after: int
    schedule: str | None  # cron expression (alerts.schedule); None: every interval, around the clock
    timezone: str | None  # the schedule's IANA time zone; None: UTC


def _int(form: Mapping[str, str], field: str, default: int, low: int, high: int) -> int:
    raw = (form.get(field) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RuleError(field, f"{raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise RuleError(field, f"must be between {low} and {high}")
    return value


def _choice(form: Mapping[str, str], field: str, choices: Mapping[int, str], default: int) -> int:
    value = _int(form, field, default, 1, 10**7)
    if value not in choices:
        raise RuleError(field, f"must be one of {', '.join(choices.values())}")
    return value


def _threshold(form: Mapping[str, str]) -> float:
    raw = (form.get("threshold") or "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise RuleError("threshold", f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise RuleError("threshold", "must be a finite number")
    return value


def _scope(form: Mapping[str, str], allowed: tuple[str, ...]) -> tuple[str | None, str | None]:
    scope = (form.get("scope") or "").strip() or None
    value = (form.get("scope_value") or "").strip() or None
    if scope is None:
        return None, None
    if scope not in allowed:
        raise RuleError("scope", f"must be one of {', '.join(allowed) or 'none'} for this rule")
    if value is None:
        raise RuleError("scope_value", f"name the {scope} the rule is scoped to")
    limit = {"consumer": 128, "group": 64, "endpoint": 1100}[scope]
    if len(value) > limit or "\x00" in value:
        raise RuleError("scope_value", f"at most {limit} characters, no NUL")
    if scope == "endpoint":
        method, _, path = value.partition(" ")
        if not method.isalpha() or not path.strip().startswith("/"):
            raise RuleError("scope_value", 'an endpoint is spelled "METHOD /path", e.g. "GET /items/{id}"')
        value = f"{method.upper()} {path.strip()}"
    return scope, value


def _schedule(form: Mapping[str, str]) -> tuple[str | None, str | None]:
    expression = " ".join((form.get("schedule") or "").split()) or None
    tz_name = (form.get("timezone") or "").strip() or None
    if tz_name is not None and tz_name.upper() == check_schedule.UTC:
        tz_name = None
    try:
        if tz_name is not None:
            check_schedule.zone(tz_name)
    except check_schedule.ScheduleError as exc:
        raise RuleError("timezone", str(exc)) from None
    if expression is None:
        if tz_name is not None:
            raise RuleError("timezone", "a time zone applies to a schedule: set one or clear the time zone")
        return None, None
    try:
        check_schedule.check(expression, tz_name)
    except check_schedule.ScheduleError as exc:
        raise RuleError("schedule", str(exc)) from None
    return expression, tz_name


def parse_form(form: Mapping[str, str], envs: tuple[str, ...] | list[str]) -> RuleSpec:
    """A RuleSpec from the rule form's fields; RuleError names the first invalid one."""
    name = (form.get("name") or "").strip()
    if not 1 <= len(name) <= 200 or "\x00" in name:  # PostgreSQL text cannot hold NUL
        raise RuleError("name", "1 to 200 characters, no NUL")
    env = (form.get("env") or "").strip()
    if env not in envs:
        raise RuleError("env", f"the app has no environment {env!r}")
    kind = (form.get("kind") or "metric").strip()
    if kind not in KINDS:
        raise RuleError("kind", f"must be one of {', '.join(KINDS)}")
    interval = _choice(form, "interval_seconds", INTERVALS, 60)
    fire_after = _int(form, "fire_after", 1, 1, MAX_STREAK)
    resolve_after = _int(form, "resolve_after", 1, 1, MAX_STREAK)
    schedule, tz_name = _schedule(form)
    metric, comparison, threshold, baseline = None, ">=", 1.0, 6
    window = interval
    scope: tuple[str | None, str | None] = (None, None)
    if kind == "metric":
        metric = (form.get("metric") or "").strip()
        if metric not in METRICS:
            raise RuleError("metric", f"must be one of {', '.join(METRICS)}")
        window = _choice(form, "window_seconds", WINDOWS, 900)
        comparison = (form.get("comparison") or "").strip()
        if comparison not in COMPARISONS:
            raise RuleError("comparison", "must be one of >, >=, <, <=")
        threshold = _threshold(form)
        scope = _scope(form, SCOPES if METRICS[metric].scoped else ())
    elif kind == "consumer_quiet":
        window = _choice(form, "window_seconds", WINDOWS, 3600)
        baseline = _int(form, "baseline_hours", 6, 1, MAX_BASELINE_HOURS)
        scope = _scope(form, ("consumer", "group"))
    return RuleSpec(
        name=name,
        env=env,
        kind=kind,
        metric=metric,
        window_seconds=window,
        interval_seconds=interval,
        comparison=comparison,
        threshold=threshold,
        scope=scope[0],
        scope_value=scope[1],
        baseline_hours=baseline,
        fire_after=fire_after,
        resolve_after=resolve_after,
        schedule=schedule,
        timezone=tz_name,
    )
