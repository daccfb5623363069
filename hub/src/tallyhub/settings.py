"""Every setting of the hub in one table: name, type, default and help; env var TALLYHUB_<NAME>."""

from __future__ import annotations

import dataclasses
import ipaddress
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


def boolean(raw: str) -> bool:
    """true/false, yes/no, on/off or 1/0 (any case)."""
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not a boolean")


def parse_proxies(value: str) -> str:
    """Comma-separated IP addresses or networks (or `*`), normalised; ValueError naming a bad one."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if items == ["*"]:
        return "*"
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or network") from exc
    return ",".join(items)


def parse_team_creation(value: str) -> str:
    """`admins` or `anyone`."""
    if value not in ("admins", "anyone"):
        raise ValueError(f"{value!r} is neither 'admins' nor 'anyone'")
    return value


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
    Setting(
        "log_budget_bytes",
        int,
        200_000_000,
        "Request-log bytes (as inflated) an app may store per budget window; past it /log answers 402 "
        "with Retry-After and the clients pause request logging. 0: no budget.",
    ),
    Setting("log_budget_seconds", int, 3600, "Length of the request-log budget window (seconds)."),
    # Accounts and sign-in.
    Setting(
        "max_password_checks",
        int,
        4,
        "Sign-in password checks (argon2, 64 MB each) a hub process runs at once; others wait.",
    ),
    Setting(
        "password_check_wait_seconds",
        float,
        10.0,
        "How long a sign-in waits for a free password check before the hub answers 503 with Retry-After.",
    ),
    Setting(
        "trusted_proxies",
        parse_proxies,
        "",
        "Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (`*`: any). Empty: none, the peer's address is the client's.",
    ),
    Setting(
        "team_creation",
        parse_team_creation,
        "admins",
        "Who may create teams: `admins` (hub admins only) or `anyone` (every signed-in user).",
    ),
    # Outbound requests (health checks, notification channels): see the README's "Outbound requests".
    Setting(
        "outbound_allow_local",
        boolean,
        False,
        "Allow health checks and notification channels to call the local network (loopback, link-local, "
        "private, unique-local addresses). Off: such targets are refused, after DNS resolution.",
    ),
    Setting(
        "outbound_allow",
        str,
        "",
        "Hosts and CIDRs health checks and channels may always call, comma-separated, e.g. "
        "status.internal,10.1.0.0/16.",
    ),
    Setting("check_workers", int, 16, "Health checks run at once by one hub process (a worker pool)."),
    Setting("delivery_workers", int, 8, "Notifications sent at once by one hub process (a worker pool)."),
    Setting(
        "outbound_team_share",
        float,
        0.25,
        "The fraction of each of those pools one team can hold; its other checks and deliveries wait.",
    ),
    # OTLP receiver (/v1/traces|logs|metrics); its size limits are max_body_bytes, applied after gunzip.
    Setting(
        "write_token_grace_hours",
        float,
        24.0,
        "How long an app's previous OTLP write token stays valid after a new one is made (0: at once).",
    ),
    Setting(
        "otlp_export_interval_seconds",
        int,
        0,
        "Export interval (5-60 s) told to apitally 1.0 clients in the Apitally-Export-Interval header. "
        "0: not sent (the clients export every 15 s).",
    ),
    Setting(
        "otlp_max_concurrent_exports",
        int,
        32,
        "OTLP exports one hub process handles at once; more are answered 429 with Retry-After.",
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
    outbound_allow_local: bool
    outbound_allow: str
    check_workers: int
    delivery_workers: int
    outbound_team_share: float
    log_budget_bytes: int
    log_budget_seconds: int
    max_password_checks: int
    password_check_wait_seconds: float
    trusted_proxies: str
    team_creation: str
    write_token_grace_hours: float
    otlp_export_interval_seconds: int
    otlp_max_concurrent_exports: int
    max_consumers_per_app: int
    max_endpoints_per_app: int
    max_envs_per_app: int

    def __post_init__(self) -> None:
        if self.log_budget_seconds <= 0:
            raise ValueError(f"log_budget_seconds must be positive, not {self.log_budget_seconds}")

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
                kind = setting.parse.__name__
                reason = f"is not a valid {kind}" if kind in ("int", "float", "str") else f"is invalid: {exc}"
                raise ValueError(f"{setting.env_var}={raw!r} {reason}") from exc
        values[setting.name] = value
    for name, value in (overrides or {}).items():
        if name not in BY_NAME:
            raise KeyError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = value
    interval = values["otlp_export_interval_seconds"]
    if interval and not 5 <= interval <= 60:
        # apitally 1.0 clamps it to 5-60 s: a value outside would not mean what it says.
        raise ValueError(f"TALLYHUB_OTLP_EXPORT_INTERVAL_SECONDS={interval} must be 0 or from 5 to 60")
    return Settings(**values)


def settings_markdown() -> str:
    """The settings table as Markdown, as the README shows it (a test keeps the two equal)."""
    lines = ["| setting | env var | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default != "" else "(empty)"
        lines.append(f"| `--{s.name.replace('_', '-')}` | `{s.env_var}` | {default} | {s.help} |")
    return "\n".join(lines)
