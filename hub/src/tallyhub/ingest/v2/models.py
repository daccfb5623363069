"""Wire models of the startup and sync payloads, as Python 0.11-0.25.x and npm 0.25.x clients send them.

Keys added after v0.11 are optional (PROTOCOL.md §2A.6). Every string that lands in a bounded column
is bounded here: consumer names and groups, error types and the like are cut to the column (clients
cut names to 64 themselves), the per-entry fields are refused past the length no client sends.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tallyhub.identifiers import METHOD_PATTERN
from tallyhub.ingest.batch import RequestMetrics

# Bounds that keep every number inside its column (BigInteger, SmallInteger) and every time sane.
MAX_COUNT = 2**45  # sums of a year of these stay within BIGINT
MAX_TIMESTAMP = 1e11  # year 5138: rejects milliseconds-as-seconds and garbage, accepts any real clock


def _cut(limit: int) -> AfterValidator:
    return AfterValidator(lambda value: value[:limit])


def canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("not a UUID") from None


Uuid = Annotated[str, Field(max_length=100), AfterValidator(canonical_uuid)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
# Native constraints only on the fields repeated per entry (hundreds per sync): a Python validator per
# value doubles the parsing time. Clients cut identifiers to 128 themselves; methods are upper-cased
# where they are used (endpoint keys), since Starlette's startup paths spell them in lower case. The
# rule is the dashboard's (tallyhub.identifiers), as a native pattern.
Method = Annotated[str, Field(pattern=f"^{METHOD_PATTERN.pattern}$")]
Path = Annotated[str, Field(max_length=1000)]
Identifier = Annotated[str, Field(max_length=128)]
Label = Annotated[str, _cut(64)]
Histogram = dict[Annotated[int, Field(ge=0, le=MAX_COUNT)], Count]
StatusCode = Annotated[int, Field(ge=0, le=999)]
Timestamp = Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)]


def _storable(value: Any) -> Any:
    """`value` with NaN and infinities as the text JSON would need (PostgreSQL's JSON refuses them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


class WireModel(BaseModel):
    """Unknown keys are ignored (newer clients may add some); NaN and infinities are refused."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)


class StartupPath(WireModel):
    method: Method
    path: Path
    summary: str | None = None
    description: str | None = None


class Startup(WireModel):
    instance_uuid: Uuid
    message_uuid: Uuid
    paths: list[StartupPath] = []
    # Package versions are strings in every client seen; anything else is stored as sent rather than
    # refused (a refused startup is re-sent by Node every cycle); NaN and infinities become text.
    versions: Annotated[dict[str, Any], AfterValidator(_storable)] = {}
    client: Annotated[str, _cut(64)] | None = None
    openapi: str | None = None  # a JSON document serialised into a string; not stored


@dataclasses.dataclass(slots=True, kw_only=True)
class RequestEntry(RequestMetrics):
    """A request entry, validated straight into the batch's RequestMetrics: a sync holds hundreds, and a
    pydantic model per entry copied into a RequestMetrics cost a sixth of parsing it.

    `at` is not read from the wire (a key of that name is ignored, as any unknown key): the translator
    sets it to the sync's timestamp. The other fields are the wire's, with its names.
    """

    __pydantic_config__ = ConfigDict(extra="ignore", allow_inf_nan=False)

    at: float | None = dataclasses.field(default=None, init=False)
    consumer: Identifier | None = None
    method: Method  # kw_only: a field without a default may follow one with
    path: Path
    status_code: StatusCode
    request_count: Count
    request_size_sum: Count = 0
    response_size_sum: Count = 0
    response_times: Histogram = dataclasses.field(default_factory=dict)
    request_sizes: Histogram = dataclasses.field(default_factory=dict)
    response_sizes: Histogram = dataclasses.field(default_factory=dict)


class ValidationErrorEntry(WireModel):
    consumer: Identifier | None = None
    method: Method
    path: Path
    loc: list[str] = []
    msg: str = ""
    type: Annotated[str, _cut(500)] = ""
    error_count: Count


class ServerErrorEntry(WireModel):
    consumer: Identifier | None = None
    method: Method
    path: Path
    type: Annotated[str, _cut(500)]
    msg: str = ""
    traceback: str = ""
    sentry_event_id: Annotated[str, _cut(64)] | None = None
    error_count: Count


class ConsumerEntry(WireModel):
    """Node leaves out `name`/`group` when unset; Python sends null."""

    identifier: Annotated[str, _cut(128)]
    name: Label | None = None
    group: Label | None = None


class Resources(WireModel):
    cpu_percent: Annotated[float, Field(ge=0, le=1e6)] | None = None
    memory_rss: Count | None = None


class Sync(WireModel):
    instance_uuid: Uuid
    message_uuid: Uuid
    timestamp: Timestamp | None = None  # since v0.14.4; missing means "now"
    requests: list[RequestEntry] = []
    validation_errors: list[ValidationErrorEntry] = []
    server_errors: list[ServerErrorEntry] = []
    consumers: list[ConsumerEntry] = []
    resources: Resources | None = None  # since v0.22.0; null on a process's first sync
