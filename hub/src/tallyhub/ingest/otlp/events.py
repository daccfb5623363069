"""The apitally 1.0 events (PROTOCOL-OTLP.md, Logs): startup, consumer update, server/validation errors."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from tallyhub.ingest import batch
from tallyhub.ingest.otlp.attributes import instance_uuid

STARTUP, CONSUMER = "apitally.app.startup", "apitally.consumer.update"
SERVER_ERROR, VALIDATION_ERROR = "apitally.request.server_error", "apitally.request.validation_error"
# apitally 1.0's own limits on consumer attributes (PROTOCOL-OTLP.md): 10 keys of 1-64, values <= 1024.
MAX_CONSUMER_ATTRIBUTES, MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_VALUE = 10, 64, 1024


@dataclasses.dataclass(slots=True)
class Events:
    """What the apitally events of an export tell, as batch parts."""

    instances: list[batch.Instance] = dataclasses.field(default_factory=list)
    consumers: list[batch.Consumer] = dataclasses.field(default_factory=list)
    server_errors: list[batch.ServerError] = dataclasses.field(default_factory=list)
    validation_errors: list[batch.ValidationError] = dataclasses.field(default_factory=list)

    def add_to(self, target: batch.Batch) -> None:
        """Put these parts into `target` (the batch of the export)."""
        target.instances.extend(self.instances)
        target.consumers.extend(self.consumers)
        target.server_errors.extend(self.server_errors)
        target.validation_errors.extend(self.validation_errors)


def add(out: Events, name: str, body: Any, at: float | None, resource: Any, attrs: dict[str, Any]) -> bool:
    """Add what event `name` (of `resource`, with attributes `attrs`) tells to `out`; False when its body is
    not what that event carries.

    Events of other names (a later client's) are skipped and True: they are nobody's error.
    """
    try:
        if name == STARTUP:
            out.instances.append(_startup(body, instance_uuid(resource), attrs))
        elif name == CONSUMER:
            out.consumers.append(_consumer(body, at))
        elif name == SERVER_ERROR:
            out.server_errors.extend(_server_errors(body, at))
        elif name == VALIDATION_ERROR:
            out.validation_errors.extend(_validation_errors(body, at))
    except (TypeError, ValueError, KeyError, AttributeError, orjson.JSONDecodeError):
        return False
    return True


def _startup(body: Any, instance: str, resource: dict[str, Any]) -> batch.Instance:
    data = orjson.loads(body) if isinstance(body, (str, bytes)) else body
    if not isinstance(data, dict):
        raise TypeError("startup body")
    versions = data.get("versions") or {}
    if not isinstance(versions, dict):
        raise TypeError("versions")
    distro = resource.get("telemetry.distro.name") or "otlp"
    framework = data.get("framework")
    endpoints = [
        batch.Endpoint(
            _str(p["method"], 16).upper(),
            _str(p["path"], 1000),
            _opt(p.get("summary"), 1000),
            _opt(p.get("description"), 10_000),
        )
        for p in data.get("paths") or []
    ]
    info = batch.Startup(
        client=f"{distro}:{framework}"[:64] if framework else str(distro)[:64],
        versions=versions,
        app_version=_opt(versions.get("app"), 100),
        endpoints=endpoints,
    )
    return batch.Instance(instance, info)


def _consumer(body: Any, at: float | None) -> batch.Consumer:
    return batch.Consumer(
        at,
        _str(body["identifier"], 128),
        _opt(body.get("name"), 64),
        _opt(body.get("group"), 64),
        _attributes(body.get("attributes")),
    )


def _attributes(raw: Any) -> dict[str, str | None] | None:
    """A consumer's attribute changes as apitally 1.0 sends them ({key: str, or None to delete})."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) > MAX_CONSUMER_ATTRIBUTES:
        raise TypeError("attributes")
    out: dict[str, str | None] = {}
    for key, item in raw.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_ATTRIBUTE_KEY:
            raise TypeError("attribute key")
        out[key] = None if item is None else _str(item, MAX_ATTRIBUTE_VALUE)
    return out or None


def _counts(body: Any) -> list[tuple[str | None, int]]:
    counts = []
    for entry in body.get("counts") or []:
        count = entry["count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("count")
        counts.append((_opt(entry.get("consumer"), 128), count))
    return counts


def _server_errors(body: Any, at: float | None) -> list[batch.ServerError]:
    method, path = _str(body["method"], 16).upper(), _str(body["path"], 1000)
    kind, message = _str(body["type"], 256), _str(body.get("message") or "", 2048)
    traceback, sentry = _str(body.get("stacktrace") or "", 65_536), _opt(body.get("sentry_event_id"), 36)
    return [
        batch.ServerError(at, consumer, method, path, kind, message, traceback, sentry, count)
        for consumer, count in _counts(body)
    ]


def _validation_errors(body: Any, at: float | None) -> list[batch.ValidationError]:
    method, path = _str(body["method"], 16).upper(), _str(body["path"], 1000)
    field = _str(body.get("field") or "", 1000)
    loc = tuple(part for part in (_str(body.get("source") or "", 20), *field.split(".")) if part)
    message, kind = _str(body.get("message") or "", 2048), _str(body.get("type") or "", 256)
    return [
        batch.ValidationError(at, consumer, method, path, loc, message, kind, count)
        for consumer, count in _counts(body)
    ]


def _str(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value[:limit]


def _opt(value: Any, limit: int) -> str | None:
    return None if value is None or value == "" else _str(value, limit)
