"""Bodies of the uptime API: uptime per env, incidents, health checks and the writes on them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Percentages = dict[str, float | None]
_PERCENT = 'Percent up per window ("24h", "7d", "30d", "90d") since monitoring began; null: not watched.'


class Incident(BaseModel):
    id: int
    env: str
    kind: Literal["heartbeat", "health_check"]
    health_check_id: int | None
    started_at: str
    ended_at: str | None = Field(description="null while the incident is open (the env is down).")
    duration_seconds: float
    cause: str = Field(description="What happened, in plain words.")
    details: dict[str, Any] = Field(
        description="The failing request (url, method, status_code, error, body…)."
    )


class CheckResult(BaseModel):
    checked_at: str
    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None
    attempts: int


class HealthCheck(BaseModel):
    id: int
    env: str
    url: str
    method: str
    expected_status: int
    body_contains: str | None
    timeout_seconds: float
    interval_seconds: int
    paused: bool
    created_at: str
    last_result: CheckResult | None
    uptime: Percentages = Field(description=_PERCENT)


class DayUptime(BaseModel):
    date: str
    uptime: float | None


class EnvUptime(BaseModel):
    env: str
    state: Literal["up", "down", "unmonitored"]
    since: str | None = Field(description="When the current state began.")
    monitored_since: str | None
    heartbeat_enabled: bool
    uptime: Percentages = Field(description=_PERCENT)
    days: list[DayUptime] = Field(description="Uptime per UTC day, the last 90 days, oldest first.")
    incidents: list[Incident] = Field(description="Incidents of the last 90 days, newest first.")
    health_checks: list[HealthCheck]


class AppUptime(BaseModel):
    app_id: int
    envs: list[EnvUptime]


class HealthCheckCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    env: str = Field(description="The environment the check belongs to.")
    url: str = Field(description="http:// or https:// URL to call.")
    method: str = "GET"
    expected_status: int = 200
    body_contains: str | None = Field(None, description="Text the response body must contain.")
    timeout_seconds: float = 5.0
    interval_seconds: int = 60
    paused: bool = False


class HealthCheckPatch(BaseModel):
    """Keys present are changed; keys absent are left as they are."""

    model_config = ConfigDict(extra="forbid")
    url: str | None = None
    method: str | None = None
    expected_status: int | None = None
    body_contains: str | None = None
    timeout_seconds: float | None = None
    interval_seconds: int | None = None
    paused: bool | None = None


class HeartbeatSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


class Heartbeat(BaseModel):
    env: str
    enabled: bool
