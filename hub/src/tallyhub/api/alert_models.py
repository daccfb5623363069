"""Bodies of the alerts API: rules, history, channels, and the writes on rules and channels.

Write bodies only type their fields; what a value may be (metric, window, comparison, …) is checked by
the dashboard's own validation (alerts.rule_spec, alerts.channel_urls), so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from tallyhub.alerts.rule_metrics import METRICS
from tallyhub.alerts.rule_spec import COMPARISONS, INTERVALS, KINDS, MAX_STREAK, SCOPES, WINDOWS
from tallyhub.api.params import MAX_INT32

ChannelRef = Annotated[int, Field(ge=1, le=MAX_INT32)]


def _one_of(values: Iterable[object]) -> str:
    return "One of " + ", ".join(str(v) for v in values)


class AlertRule(BaseModel):
    id: int
    name: str
    env: str
    kind: str = Field(description='"metric", "env_down", "health_check_failing" or "consumer_quiet".')
    metric: str | None = Field(description="The watched metric (kind metric), e.g. p95, error_rate.")
    window_seconds: int
    interval_seconds: int
    comparison: str
    threshold: float
    scope: str | None = Field(description='None, "consumer", "group" or "endpoint".')
    scope_value: str | None
    baseline_hours: int
    fire_after: int
    resolve_after: int
    schedule: str | None = Field(
        description="Cron expression: checked only in minutes it matches; null = always."
    )
    timezone: str | None = Field(description="The schedule's IANA time zone; null = UTC.")
    paused: bool
    state: str = Field(description='"ok" or "firing".')
    last_value: float | None
    last_checked_at: str | None
    next_check_at: str | None = Field(description="When the rule is next checked; null while paused.")
    channel_ids: list[int]


class _RuleFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str | None = Field(None, description=f"Kind metric: the watched metric. {_one_of(METRICS)}.")
    window_seconds: int | None = Field(
        None, description=f"Kinds metric and consumer_quiet (default 900 / 3600). {_one_of(WINDOWS)}."
    )
    interval_seconds: int | None = Field(
        None, description=f"How often it is checked (default 60). {_one_of(INTERVALS)}."
    )
    comparison: str | None = Field(None, description=f"Kind metric. {_one_of(COMPARISONS)}.")
    threshold: float | None = Field(None, description="Kind metric: the value compared with (ms, %, MB…).")
    scope: str | None = Field(
        None,
        description=f"Optional: limit the rule to one {' / '.join(SCOPES)} (consumer_quiet: not endpoint).",
    )
    scope_value: str | None = Field(
        None, description='The consumer identifier, group name or endpoint ("GET /items/{id}").'
    )
    baseline_hours: int | None = Field(
        None, description="Kind consumer_quiet: hours of steady traffic (default 6)."
    )
    fire_after: int | None = Field(
        None, description=f"Breaching checks in a row before it fires (1–{MAX_STREAK}, default 1)."
    )
    resolve_after: int | None = Field(
        None, description=f"Good checks in a row before it resolves (1–{MAX_STREAK}, default 1)."
    )
    schedule: str | None = Field(
        None,
        description='Optional cron expression (5 fields, e.g. "* 9-17 * * 1-5"): checks run every '
        "interval_seconds but only in minutes it matches; outside it the rule is not checked and its "
        "state (an open alert too) is kept until the next scheduled check.",
    )
    timezone: str | None = Field(
        None, description="IANA time zone the schedule is read in (e.g. Europe/Berlin); null = UTC."
    )


class AlertRuleCreate(_RuleFields):
    name: str = Field(description="1 to 200 characters.")
    env: str = Field(description="The environment the rule watches.")
    kind: str = Field("metric", description=f"{_one_of(KINDS)}.")
    channel_ids: list[ChannelRef] = Field(
        [], max_length=100, description="Channels of the app's team to notify."
    )
    paused: bool = False


class AlertRulePatch(_RuleFields):
    """Keys present are changed (null clears an optional field); keys absent are left as they are."""

    name: str | None = None
    env: str | None = None
    kind: str | None = None
    channel_ids: list[ChannelRef] | None = Field(
        None, max_length=100, description="Replaces the rule's channels; [] notifies nobody."
    )
    paused: bool | None = Field(None, description="true pauses (no checks, no notifications), false resumes.")


class Notification(BaseModel):
    channel_id: int
    channel: str
    status: str = Field(description='"pending" (will be retried), "sent" or "failed" (gave up).')
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    sent_at: str | None


class AlertEvent(BaseModel):
    id: int
    rule_id: int
    rule: str
    env: str
    kind: str = Field(description='"fired" or "resolved".')
    at: str
    since: str
    value: float | None
    threshold: float
    title: str
    message: str
    notifications: list[Notification]


class Channel(BaseModel):
    id: int
    team: str
    team_id: int
    name: str
    kind: str = Field(
        description='From the URL\'s scheme: "email", "slack", "teams", …, "webhook" or "other".'
    )
    url: str = Field(description="The Apprise URL with passwords and tokens hidden.")


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="1 to 100 characters.")
    url: str = Field(description="An Apprise URL (mailtos://…, slack://…, jsons://…); checked by Apprise.")
    team_id: int | None = Field(
        None,
        ge=1,
        le=MAX_INT32,
        description="The channel's team: required with a CLI token; a team token creates its own team's.",
    )


class ChannelPatch(BaseModel):
    """Keys present are changed; without url (or with null) the stored URL and its secrets are kept."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    url: str | None = None


class DeliveryResult(BaseModel):
    delivered: bool
    error: str | None = Field(description="Why the delivery failed (from Apprise), null when delivered.")
