"""Every setting of the hub in one table: name, type, default and help; env var TALLYHUB_<NAME>."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str

    @property
    def env_var(self) -> str:
        return f"TALLYHUB_{self.name.upper()}"


SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "127.0.0.1", "Address the hub listens on."),
    Setting("port", int, 8000, "Port the hub listens on."),
    Setting(
        "workers",
        int,
        1,
        "Hub processes serving requests. More than one pays off with PostgreSQL; SQLite has one writer.",
    ),
    Setting("data_dir", str, "./tallyhub-data", "Folder for the embedded SQLite database."),
    Setting(
        "database_url",
        str,
        "",
        "SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/db. "
        "Empty: a SQLite file in the data folder.",
    ),
    Setting("max_body_bytes", int, 10_000_000, "Largest request body /v2 accepts (bytes, as sent)."),
    Setting(
        "max_log_bytes",
        int,
        100_000_000,
        "Largest request-log file /v2/.../log accepts after gunzip (bytes).",
    ),
    Setting("apdex_threshold_ms", int, 500, "Apdex T: responses up to T are satisfied, up to 4T tolerated."),
    Setting("maintenance_interval_seconds", int, 60, "How often rollups and retention run."),
    Setting("retention_minute_days", int, 7, "Days to keep per-minute metrics."),
    Setting("retention_hour_days", int, 90, "Days to keep per-hour metrics."),
    Setting("retention_day_days", int, 800, "Days to keep per-day metrics."),
    Setting("retention_errors_days", int, 90, "Days to keep server and validation error counts."),
    Setting("retention_request_logs_days", int, 15, "Days to keep request logs."),
    Setting(
        "retention_uptime_days",
        int,
        90,
        "Days to keep health-check results and ended incidents (uptime over 90 days needs 90).",
    ),
    Setting(
        "retention_alerts_days",
        int,
        90,
        "Days to keep alert history: firings, resolutions and their notifications (pending deliveries "
        "and the firing of a rule still firing are kept).",
    ),
    Setting(
        "heartbeat_timeout_seconds",
        int,
        180,
        "An environment is down when none of its instances has synced for this long.",
    ),
    Setting(
        "uptime_tick_seconds",
        float,
        5.0,
        "How often the hub looks for due health checks and silent environments.",
    ),
    Setting("log_level", str, "info", "Log level: debug, info, warning or error."),
    Setting(
        "public_url",
        str,
        "",
        "The hub's URL as clients and browsers reach it, e.g. https://hub.example.com (shown in setup "
        "snippets and links). Empty: taken from each request, or http://HOST:PORT on the command line.",
    ),
    Setting(
        "alerts_tick_seconds",
        float,
        5.0,
        "How often each hub process looks for due alert rules and notifications to deliver.",
    ),
    # Cardinality caps (issue 10): past a cap, new keys are counted under the app's "other" bucket.
    Setting(
        "max_consumers_per_app",
        int,
        50_000,
        "Distinct consumers an app may have; requests of further new consumers are counted under "
        '"(other consumers)".',
    ),
    Setting(
        "max_endpoints_per_app",
        int,
        2_000,
        "Distinct endpoints (method and path) an app may have across its environments; further new "
        'ones are counted under "(other endpoints)".',
    ),
    Setting(
        "max_envs_per_app",
        int,
        20,
        'Environments an app may have; data sent to further new ones is stored in the "(other)" environment.',
    ),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The hub's configuration; build it with `load_settings`."""

    host: str
    port: int
    workers: int
    data_dir: str
    database_url: str
    max_body_bytes: int
    max_log_bytes: int
    apdex_threshold_ms: int
    maintenance_interval_seconds: int
    retention_minute_days: int
    retention_hour_days: int
    retention_day_days: int
    retention_errors_days: int
    retention_request_logs_days: int
    retention_uptime_days: int
    retention_alerts_days: int
    heartbeat_timeout_seconds: int
    uptime_tick_seconds: float
    log_level: str
    public_url: str
    alerts_tick_seconds: float
    max_consumers_per_app: int
    max_endpoints_per_app: int
    max_envs_per_app: int

    @property
    def resolved_database_url(self) -> str:
        """The database URL, or the default SQLite file inside data_dir."""
        if self.database_url:
            return self.database_url
        path = Path(self.data_dir).expanduser().resolve() / "tallyhub.sqlite3"
        return f"sqlite:///{path}"


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read settings from defaults, then TALLYHUB_* variables, then explicit overrides (None = unset)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value = setting.default
        raw = environ.get(setting.env_var)
        if raw is not None and raw != "":
            try:
                value = setting.parse(raw)
            except ValueError as exc:
                raise ValueError(
                    f"{setting.env_var}={raw!r} is not a valid {setting.parse.__name__}"
                ) from exc
        values[setting.name] = value
    for name, value in (overrides or {}).items():
        if name not in BY_NAME:
            raise KeyError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = value
    return Settings(**values)


def settings_markdown() -> str:
    """The settings table as Markdown, as the README shows it (a test keeps the two equal)."""
    lines = ["| setting | env var | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default != "" else "(empty)"
        lines.append(f"| `--{s.name.replace('_', '-')}` | `{s.env_var}` | {default} | {s.help} |")
    return "\n".join(lines)
