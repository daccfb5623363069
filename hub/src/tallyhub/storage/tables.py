"""The schema, shared by SQLite and PostgreSQL. Times are Unix epoch seconds (floats or whole ints).

Metrics are kept at three granularities (60, 3600, 86400 s) and four levels of detail so that a query
reads the coarsest rows that can answer it (`level_for`):

- level 0 (TOTAL): per status code only;
- level 1 (ENDPOINT): per endpoint and status code;
- level 2 (CONSUMER): per endpoint, consumer and status code;
- level 3 (CONSUMER_TOTAL): per consumer and status code, for consumer views without an endpoint
  filter (level 2 has a row per endpoint a consumer called: 3.7 times as many rows on the benchmark
  data set, more for busy consumers). Migration 0014 built them from level 2 for older data.

Every level holds every request once (requests without an endpoint or consumer under NO_ID).

Ingestion appends minute rows at every level; the rollup merges minute rows into hour and day rows and
moves its mark (rollup_marks) past them. A query at hour or day interval reads those rows plus the minute
rows not yet rolled (UNROLLED_MINUTES), so it is exact and current.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

MINUTE, HOUR, DAY = 60, 3600, 86400
GRANULARITIES = (MINUTE, HOUR, DAY)
LEVEL_TOTAL, LEVEL_ENDPOINT, LEVEL_CONSUMER, LEVEL_CONSUMER_TOTAL = 0, 1, 2, 3
NO_ID = 0  # endpoint_id / consumer_id of rows that do not have that dimension (or no consumer)


def level_for(endpoint: bool, consumer: bool) -> int:
    """The coarsest level whose rows carry the endpoint and/or consumer dimension."""
    if endpoint:
        return LEVEL_CONSUMER if consumer else LEVEL_ENDPOINT
    return LEVEL_CONSUMER_TOTAL if consumer else LEVEL_TOTAL


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MAX_ID = 2**31 - 1  # the largest id an Integer column holds on PostgreSQL; larger ones name nothing


def _cascade(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete="CASCADE")


apps = sa.Table(
    "apps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("client_id", sa.String(36), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    # Nullable only because SQLite cannot add a NOT NULL foreign key without rebuilding the table;
    # every app created since migration 0010 has a team (storage.apps puts it in the default team).
    sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id"), index=True),
    # The app's own Apdex T in ms; NULL = the hub's apdex_threshold_ms setting (migration 0028).
    sa.Column("apdex_threshold_ms", sa.Integer),
    # The app's Sentry organisation URL (https://…): server errors link to their Sentry event (0033).
    sa.Column("sentry_org_url", sa.String(500)),
    # The framework chosen when the app was created (a key of storage.app_frameworks); the setup page
    # opens on its instructions. NULL: an app made before migration 0041 or from the CLI.
    sa.Column("framework", sa.String(32)),
)

envs = sa.Table(
    "envs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("app_id", sa.Integer, _cascade("apps.id"), nullable=False),
    sa.Column("name", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # Heartbeat monitoring: the env is "down" when no instance has synced for a while (migration 0012).
    sa.Column("heartbeat_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # The first hour from which consumer_hours holds every request of this env (migration 0026).
    sa.Column("consumer_hours_since", sa.BigInteger, nullable=False, server_default="0"),
    sa.UniqueConstraint("app_id", "name"),
)

instances = sa.Table(
    "instances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("instance_uuid", sa.String(36), nullable=False),
    sa.Column("client", sa.String(64)),
    sa.Column("versions", sa.JSON),
    sa.Column("app_version", sa.String(100)),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_startup_at", sa.Float),
    sa.Column("last_sync_at", sa.Float),
    sa.Column("cpu_percent", sa.Float),
    sa.Column("memory_rss", sa.BigInteger),
    sa.UniqueConstraint("env_id", "instance_uuid"),
)

endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    # The path as the framework spells it (first spelling seen), and the key it is matched by.
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("path_key", sa.String(1000), nullable=False),
    sa.Column("summary", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("in_startup", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.UniqueConstraint("env_id", "method", "path_key"),
)

consumers = sa.Table(
    "consumers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("app_id", sa.Integer, _cascade("apps.id"), nullable=False),
    sa.Column("identifier", sa.String(128), nullable=False),
    sa.Column("name", sa.String(64)),
    sa.Column("group_name", sa.String(64)),
    # A name or group set by a person is kept; values sent by clients only fill what is unset.
    sa.Column("name_set_by_user", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("group_set_by_user", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    # {key: value} as apitally.consumer.update sends them (migration 0022); null when never sent.
    sa.Column("attributes", sa.JSON),
    # The earliest consumer_hours bucket of any env (null before its first request; migration 0034): the
    # new/returning chart counts new consumers per hour from this index instead of grouping their hours.
    sa.Column("first_active_hour", sa.BigInteger),
    sa.UniqueConstraint("app_id", "identifier"),
    sa.Index(None, "app_id", "group_name"),
    # Lists sorted by last seen read this index with LIMIT instead of sorting every consumer (0026).
    sa.Index(None, "app_id", "last_seen"),
    sa.Index(None, "app_id", "first_active_hour", "first_seen"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("granularity", sa.Integer, nullable=False),
    sa.Column("bucket", sa.BigInteger, nullable=False),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("endpoint_id", sa.Integer, nullable=False),
    sa.Column("consumer_id", sa.Integer, nullable=False),
    sa.Column("status_code", sa.SmallInteger, nullable=False),
    sa.Column("request_count", sa.BigInteger, nullable=False),
    sa.Column("request_size_sum", sa.BigInteger, nullable=False),
    sa.Column("response_size_sum", sa.BigInteger, nullable=False),
    # Histograms as compact JSON objects {bin: count}: 10 ms response-time bins, 1 KB size bins.
    sa.Column("response_times", sa.Text, nullable=False),
    sa.Column("request_sizes", sa.Text, nullable=False),
    sa.Column("response_sizes", sa.Text, nullable=False),
    sa.Column("rolled", sa.Boolean, nullable=False, server_default=sa.false()),
    # With the counts a list sorts by, so that sorting 100,000 consumers by their requests over a range
    # (and counting them per bucket) reads this index alone, not the wide rows (migration 0017).
    sa.Index(
        "ix_metrics_level_counts",
        "env_id",
        "granularity",
        "level",
        "bucket",
        "consumer_id",
        "status_code",
        "request_count",
    ),
    sa.Index(None, "env_id", "granularity", "level", "endpoint_id", "bucket"),
    sa.Index(None, "env_id", "granularity", "level", "consumer_id", "bucket"),
    sa.Index(None, "granularity", "rolled", "bucket"),
)

# Requests and errors (4xx + 5xx) per env, UTC hour and consumer (NO_ID left out), added to at ingestion
# with the minute rows, so that sorting 100,000 consumers by their totals over a range reads one narrow
# row per consumer and hour (no status split, no unrolled minutes to add). envs.consumer_hours_since says
# from when they hold every request of the env: retention moves it forward; before it, reads go to
# `metrics` (migration 0026).
consumer_hours = sa.Table(
    "consumer_hours",
    metadata,
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("consumer_id", sa.Integer, primary_key=True),
    # 32-bit on purpose (over 2 billion requests of one consumer in one hour is not a real case): PostgreSQL
    # sums integers into bigint, but bigints into numeric, which took twice as long and spilled to disk.
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    # Clustered by the key on SQLite: a range of hours is one contiguous read of the table itself.
    sqlite_with_rowid=False,
)

# How far the rollup has gone (one row, migration 0042): every minute row with bucket < minutes_before
# and id <= through_id is in the hour and day rows. Moving the mark is one UPDATE where marking each minute
# row `rolled` rewrote every row and its indexes (issue 14). A minute row that ingestion writes later for
# an older minute (a sync dated up to 25 hours back) gets an id above through_id, so it counts as unrolled
# until the next rollup adds it to its hour. The rollup takes through_id only once every transaction that
# may hold a lower id has ended (rollup.py). `rolled` is left from before 0042: rows marked so are in the
# hour rows whatever the mark says.
rollup_marks = sa.Table(
    "rollup_marks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1
    sa.Column("minutes_before", sa.BigInteger, nullable=False),
    sa.Column("through_id", sa.BigInteger, nullable=False),
)
# The marks as SQL scalars (0 if the row is missing), to read in the same statement, hence the same
# snapshot, as the rows they select.
ROLLED_BEFORE = "(SELECT coalesce(max(minutes_before), 0) FROM rollup_marks)"
ROLLED_THROUGH = "(SELECT coalesce(max(through_id), 0) FROM rollup_marks)"
# Minute rows not rolled up yet: the minutes at or after the mark, and later writes for minutes before it.
# Readers that need speed take the two halves apart (metrics/reads.py): an index range on bucket for the
# first, the id (rowid / primary key) range for the second.
UNROLLED_FRESH = f"granularity = 60 AND rolled = false AND bucket >= {ROLLED_BEFORE}"
UNROLLED_LATE = f"granularity = 60 AND rolled = false AND bucket < {ROLLED_BEFORE} AND id > {ROLLED_THROUGH}"
UNROLLED_MINUTES = f"(({UNROLLED_FRESH}) OR ({UNROLLED_LATE}))"

error_groups = sa.Table(
    "error_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # "server" or "validation"
    sa.Column("endpoint_id", sa.Integer, nullable=False),
    # sha256 of the fields that make an error distinct (type, msg, traceback or loc)
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("type", sa.String(500), nullable=False),
    sa.Column("msg", sa.Text, nullable=False),
    sa.Column("traceback", sa.Text),
    sa.Column("loc", sa.JSON),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.UniqueConstraint("env_id", "kind", "endpoint_id", "fingerprint"),
)

error_counts = sa.Table(
    "error_counts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("group_id", sa.Integer, _cascade("error_groups.id"), nullable=False),
    sa.Column("bucket", sa.BigInteger, nullable=False),  # minute
    sa.Column("consumer_id", sa.Integer, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("sentry_event_id", sa.String(64)),
    sa.Index(None, "group_id", "bucket"),
    sa.Index(None, "bucket"),
)

request_logs = sa.Table(
    "request_logs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.String(1000)),
    sa.Column("endpoint_id", sa.Integer),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status_code", sa.SmallInteger, nullable=False),
    sa.Column("response_time", sa.Float, nullable=False),  # seconds
    sa.Column("consumer_id", sa.Integer),
    sa.Column("request_size", sa.BigInteger),
    sa.Column("response_size", sa.BigInteger),
    sa.Column("trace_id", sa.String(32)),
    # Headers, bodies, exception, logs and spans, in the Python client's spelling.
    sa.Column("details", sa.JSON, nullable=False),
    # The bodies decoded as text (None when absent or not UTF-8), what body search reads (migration 0025):
    # FTS5 trigram on SQLite, pg_trgm GIN on PostgreSQL; see storage/text_search.py. A body kept here
    # is not kept in details too (TEXT_BODIES).
    sa.Column("request_body_text", sa.Text),
    sa.Column("response_body_text", sa.Text),
    # Copies of details' client_ip and exception type (migration 0031): the client-IP filter reads its
    # index and the CSV export reads them without parsing the JSON. Cut as ingestion cuts client_ip.
    sa.Column("client_ip", sa.String(64)),
    sa.Column("exception_type", sa.Text),
    # On PostgreSQL (env_id, uuid, timestamp): a key of a partitioned table holds the partition key
    # (storage/partitions.py, migration 0038); a retry carries the same timestamp, so it still matches.
    sa.UniqueConstraint("env_id", "uuid"),
    sa.Index(None, "env_id", "timestamp"),
    sa.Index(None, "env_id", "trace_id"),
    sa.Index(None, "env_id", "client_ip", "timestamp"),
    sa.Index(None, "env_id", "consumer_id", "timestamp"),  # the consumer filter's pages (migration 0040)
)
# The details key listing the bodies ("request_body", "response_body") that a row keeps only as text,
# in <name>_text, from which the read side gives them back base64 as the client sent them (rows stored
# before it keep both).
TEXT_BODIES = "text_bodies"
# On SQLite only, migration 0043 adds an index of this name covering the CSV export's columns in
# (env_id, timestamp, id) order: the export reads it instead of the rows, ~4.7 KB each there.
SQLITE_EXPORT_INDEX = "ix_request_logs_export"

# Child spans and log records of OTLP traces, kept apart from their request log: they may arrive in
# another export than their SERVER span, before or after it, and join it by trace id when read.
trace_items = sa.Table(
    "trace_items",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("trace_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(4), nullable=False),  # "span" or "log"
    sa.Column("span_id", sa.String(16)),  # the span's own id; for a log, the span it was written in
    sa.Column("parent_span_id", sa.String(16)),
    sa.Column("timestamp", sa.Float, nullable=False),  # for retention, as request logs'
    sa.Column("data", sa.JSON, nullable=False),  # the span or log as request-log details spell it
    sa.Index(None, "env_id", "trace_id"),
    sa.Index(None, "timestamp"),
)

# Which OTLP signal counts an instance's requests: the first that brought them (see docs/otlp-mapping.md).
request_sources = sa.Table(
    "request_sources",
    metadata,
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), primary_key=True),
    sa.Column("instance", sa.String(128), primary_key=True),
    sa.Column("source", sa.String(10), nullable=False),  # "spans" or "metrics"
    sa.Column("first_seen", sa.Float, nullable=False, index=True),
    # Touched at most hourly while the instance sends (retention deletes stale claims), migration 0022.
    sa.Column("last_seen", sa.Float, nullable=False, server_default="0", index=True),
)

received_messages = sa.Table(
    "received_messages",
    metadata,
    sa.Column("app_id", sa.Integer, _cascade("apps.id"), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),  # "startup", "sync" or "log"
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("received_at", sa.Float, nullable=False, index=True),
)

# Request-log bytes an app stored in its current budget window (migration 0018): one row per app, reset
# when a new window starts, so it never grows.
log_budgets = sa.Table(
    "log_budgets",
    metadata,
    sa.Column("app_id", sa.Integer, _cascade("apps.id"), primary_key=True),
    sa.Column("window_start", sa.Float, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex of the token
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_used_at", sa.Float),
    # The team whose apps the token may read; NULL = every app (tokens made with the CLI).
    sa.Column("team_id", sa.Integer, _cascade("teams.id"), index=True),
    # A read-only token may only GET: the API answers its writes 403 (migration 0016).
    sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(100), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# --- Users, teams and sign-in (migration 0010) ---

teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # stored lower-cased
    sa.Column("password_hash", sa.String(200), nullable=False),  # argon2id, PHC string
    sa.Column("created_at", sa.Float, nullable=False),
    # Hub admins may create teams when team_creation is "admins"; the first user is one.
    sa.Column("is_hub_admin", sa.Boolean, nullable=False, server_default=sa.false()),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("user_id", sa.Integer, _cascade("users.id"), primary_key=True),
    sa.Column("team_id", sa.Integer, _cascade("teams.id"), primary_key=True),
    sa.Column("role", sa.String(10), nullable=False),  # "admin", "member" or "viewer"
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index(None, "team_id"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex of the cookie value
    sa.Column("user_id", sa.Integer, _cascade("users.id"), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("attempted_at", sa.Float, nullable=False),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Index(None, "email", "attempted_at"),
    sa.Index(None, "ip", "attempted_at"),
)

# One-time links: the first admin's setup link and invitations to a team. Used once, then kept as used.
invites = sa.Table(
    "invites",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(10), nullable=False),  # "setup" or "invite"
    sa.Column("email", sa.String(320)),
    sa.Column("team_id", sa.Integer, _cascade("teams.id")),
    sa.Column("role", sa.String(10)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float),
)

# --- Uptime (migration 0012) ---

# A URL called every interval; `next_run_at` is claimed with a conditional UPDATE, so that with several
# hub processes each check runs once per interval.
health_checks = sa.Table(
    "health_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("expected_status", sa.SmallInteger, nullable=False),
    sa.Column("body_contains", sa.Text),
    sa.Column("timeout_seconds", sa.Float, nullable=False),
    sa.Column("interval_seconds", sa.Integer, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_run_at", sa.Float, nullable=False),
)

health_check_results = sa.Table(
    "health_check_results",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("check_id", sa.Integer, _cascade("health_checks.id"), nullable=False),
    sa.Column("checked_at", sa.Float, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("status_code", sa.SmallInteger),
    sa.Column("latency_ms", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.SmallInteger, nullable=False),
    sa.Index(None, "check_id", "checked_at"),
)

# A time an env was down: kind "heartbeat" (no instance synced) or "health_check" (that check failed).
# Open while ended_at is NULL. `details` holds the failing request (url, status, latency, error).
incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("health_check_id", sa.Integer, _cascade("health_checks.id")),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index(None, "env_id", "started_at"),
)
# At most one open incident per (env, kind) without a check, and per check: what lets several hub
# processes evaluate heartbeats and record check results without opening the same incident twice.
_open = incidents.c.ended_at.is_(None)
_no_check = sa.and_(_open, incidents.c.health_check_id.is_(None))
sa.Index(
    "uq_incidents_open_env_kind",
    incidents.c.env_id,
    incidents.c.kind,
    unique=True,
    sqlite_where=_no_check,
    postgresql_where=_no_check,
)
sa.Index(
    "uq_incidents_open_check",
    incidents.c.health_check_id,
    unique=True,
    sqlite_where=_open,
    postgresql_where=_open,
)

# --- Alerts (migration 0013) ---

# Where notifications go: an Apprise URL (it holds the channel's secrets; pages show it masked).
alert_channels = sa.Table(
    "alert_channels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("team_id", sa.Integer, _cascade("teams.id"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # "email", "slack", ..., "webhook", "other"
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

# What to watch and its evaluation state. `next_check_at` is claimed with a conditional UPDATE, so that
# with several hub processes each rule is checked once per interval.
alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    # "metric", or a built-in: "env_down", "health_check_failing", "consumer_quiet"
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("metric", sa.String(30)),  # tallyhub.alerts.rule_metrics.METRICS key (kind "metric")
    sa.Column("window_seconds", sa.Integer, nullable=False),
    sa.Column("interval_seconds", sa.Integer, nullable=False),
    sa.Column("comparison", sa.String(2), nullable=False),  # ">", ">=", "<", "<="
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("scope", sa.String(10)),  # None, "consumer", "group" or "endpoint"
    sa.Column("scope_value", sa.String(1100)),  # identifier, group name, or "METHOD /path"
    sa.Column("baseline_hours", sa.Integer, nullable=False, server_default="6"),  # consumer_quiet
    sa.Column("fire_after", sa.Integer, nullable=False),  # N breaching checks in a row
    sa.Column("resolve_after", sa.Integer, nullable=False),  # M good checks in a row
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_check_at", sa.Float, nullable=False),
    sa.Column("state", sa.String(10), nullable=False, server_default="ok"),  # "ok" or "firing"
    sa.Column("breach_streak", sa.Integer, nullable=False, server_default="0"),
    sa.Column("good_streak", sa.Integer, nullable=False, server_default="0"),
    sa.Column("breaching_since", sa.Float),  # first breaching check of the current streak
    sa.Column("last_value", sa.Float),
    sa.Column("last_checked_at", sa.Float),
    # A cron expression: checks run only in minutes it matches, at most every interval (migration 0033).
    sa.Column("schedule", sa.String(100)),
    sa.Column("timezone", sa.String(64)),  # IANA name the schedule is read in; NULL = UTC
)

alert_rule_channels = sa.Table(
    "alert_rule_channels",
    metadata,
    sa.Column("rule_id", sa.Integer, _cascade("alert_rules.id"), primary_key=True),
    sa.Column("channel_id", sa.Integer, _cascade("alert_channels.id"), primary_key=True),
    sa.Index(None, "channel_id"),
)

# Every firing and resolution of a rule.
alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rule_id", sa.Integer, _cascade("alert_rules.id"), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # "fired" or "resolved"
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("since", sa.Float, nullable=False),  # when the breach (or the recovery) began
    sa.Column("value", sa.Float),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index(None, "rule_id", "at"),
)

# Every notification of an event to a channel (or a channel's test, event_id NULL), with its delivery.
# `next_attempt_at` is claimed with a conditional UPDATE, so that each attempt is made by one process.
alert_notifications = sa.Table(
    "alert_notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.Integer, _cascade("alert_events.id")),
    sa.Column("channel_id", sa.Integer, _cascade("alert_channels.id"), nullable=False, index=True),
    sa.Column("status", sa.String(10), nullable=False),  # "pending", "sent" or "failed" (gave up)
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_attempt_at", sa.Float),  # NULL once sent or given up
    sa.Column("sent_at", sa.Float),
    sa.Index(None, "event_id"),
    sa.Index(None, "status", "next_attempt_at"),
)

# OTLP write tokens (storage/write_tokens.py): only the SHA-256 is kept; `expires_at` is NULL for the
# current token and set when a newer one is made (the grace period), migration 0019.
write_tokens = sa.Table(
    "write_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("app_id", sa.Integer, _cascade("apps.id"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hint", sa.String(8), nullable=False),  # "apt_" and 4 characters, to recognise a token
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
)

# The last cumulative values of each OTLP metric stream (metrics/streams.py), so that cumulative
# exports become deltas across hub restarts and processes, migration 0019.
metric_streams = sa.Table(
    "metric_streams",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("stream_key", sa.String(64), nullable=False),  # sha256 of the stream's identity
    sa.Column("start_ns", sa.BigInteger, nullable=False),  # the stream's start time: a change is a reset
    sa.Column("state", sa.Text, nullable=False),  # JSON of the cumulative values
    sa.Column("updated_at", sa.Float, nullable=False, index=True),
    sa.UniqueConstraint("env_id", "stream_key"),
)

# --- Cardinality caps (migration 0017) ---

# A cap of an app that new keys went past (kind "consumers", "endpoints" or "envs"), and since when:
# from then on they are counted under the app's "other" bucket (storage.caps).
cap_hits = sa.Table(
    "cap_hits",
    metadata,
    sa.Column("app_id", sa.Integer, _cascade("apps.id"), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("since", sa.Float, nullable=False),
)

# --- Application logs and spans across requests (migration 0027) ---

# Each log record of a logged request, one row apiece so the application-logs page filters and pages
# them through indexes: Hub v2 records (from the request's `details`) name their request by `request_uuid`,
# OTLP records (trace items) by `trace_id`; the page resolves either to the request log when read.
app_log_records = sa.Table(
    "app_log_records",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),  # the record's time, else its request's
    sa.Column("request_uuid", sa.String(36)),
    sa.Column("trace_id", sa.String(32)),
    sa.Column("level", sa.String(16)),  # upper case
    sa.Column("logger", sa.String(200)),
    # Searched through a text index (migration 0031): FTS5 trigram on SQLite, pg_trgm GIN on PostgreSQL;
    # see storage/text_search.py.
    sa.Column("message", sa.Text),
    sa.Index(None, "env_id", "timestamp"),
    sa.Index(None, "env_id", "level", "timestamp"),
    sa.Index(None, "env_id", "logger", "timestamp"),
    # No index on the timestamp alone (as request_logs): retention's oldest rows come first in id order,
    # and the planner would walk it for the newest page of one env.
)

# Each span of a logged request's trace, named and timed, for the traces view (spans grouped by name).
# `duration_bin` is storage.span_bins' bin of the duration: the grouping reads only the covering index.
span_records = sa.Table(
    "span_records",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),  # the span's start
    sa.Column("request_uuid", sa.String(36)),
    sa.Column("trace_id", sa.String(32)),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("duration_bin", sa.SmallInteger, nullable=False),
    sa.Index(None, "env_id", "timestamp", "name", "duration_bin"),
    # A name's example requests, newest first: the bin in the index tests "slow enough" without the table.
    sa.Index(None, "env_id", "name", "timestamp", "duration_bin"),
)

# Spans per env, UTC hour, name and duration bin (migration 0035), added to in the transaction that appends
# span_records, so the traces view reads a range's whole hours here and only its edge minutes from the
# spans (storage/span_hours.py). Retention deletes both on the same hour boundary: each hour here counts
# exactly the span_records of that hour.
span_hours = sa.Table(
    "span_hours",
    metadata,
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("duration_bin", sa.SmallInteger, primary_key=True),
    sa.Column("spans", sa.Integer, nullable=False),
    sqlite_with_rowid=False,  # a range of hours is one contiguous read of the table itself
)

# --- Endpoint settings (migration 0028) ---

# What a person set for an endpoint of an app, in every env (an endpoint is its method and path key):
# status codes counted as successes, its own Apdex T, whether its traffic is no longer stored
# (excluded) and whether lists leave it out (hidden). See storage/endpoint_settings.py.
endpoint_settings = sa.Table(
    "endpoint_settings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("app_id", sa.Integer, _cascade("apps.id"), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path_key", sa.String(1000), nullable=False),
    sa.Column("expected_statuses", sa.JSON, nullable=False),  # sorted list of 4xx/5xx codes
    sa.Column("apdex_threshold_ms", sa.Integer),  # NULL = the app's T
    sa.Column("excluded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("app_id", "method", "path_key"),
)

# CPU and memory of instances as their syncs report them, one row per report, dated to its minute; the
# rollup folds closed minutes into resource_rollups and marks them `rolled` (migration 0029).
instance_minutes = sa.Table(
    "instance_minutes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), nullable=False),
    sa.Column("bucket", sa.BigInteger, nullable=False),
    sa.Column("instance_uuid", sa.String(36), nullable=False),
    sa.Column("cpu_percent", sa.Float),
    sa.Column("memory_rss", sa.BigInteger),
    sa.Column("rolled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index(None, "env_id", "bucket"),
    sa.Index(None, "rolled", "bucket"),
)

# Per env and hour or day: min, max, sum and count of the instance minutes' CPU and memory, so that the
# min/avg/max across instances of a long range reads one row per bucket. With the minute rows not yet
# rolled they hold every minute once (metrics.resources).
resource_rollups = sa.Table(
    "resource_rollups",
    metadata,
    sa.Column("env_id", sa.Integer, _cascade("envs.id"), primary_key=True),
    sa.Column("granularity", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("cpu_min", sa.Float),
    sa.Column("cpu_max", sa.Float),
    sa.Column("cpu_sum", sa.Float, nullable=False),
    sa.Column("cpu_count", sa.Integer, nullable=False),
    sa.Column("memory_min", sa.BigInteger),
    sa.Column("memory_max", sa.BigInteger),
    sa.Column("memory_sum", sa.BigInteger, nullable=False),
    sa.Column("memory_count", sa.Integer, nullable=False),
)

# --- Saved views (migration 0032) ---

# A named set of an app's dashboard filters (`query`: a normalised query string of the filter keys the
# pages know, e.g. "env=prod&period=7d&path=%2Fv1%2F%2A%2A"). Private to `user_id` unless `shared` with
# the app's team; a view made with an API token has no user and is always shared (storage.saved_views).
saved_views = sa.Table(
    "saved_views",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("app_id", sa.Integer, _cascade("apps.id"), nullable=False, index=True),
    sa.Column("user_id", sa.Integer, _cascade("users.id")),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("query", sa.String(4000), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
