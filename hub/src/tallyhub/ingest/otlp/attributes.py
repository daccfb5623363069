"""Reading OTLP attributes off the generated messages without converting whole lists (the hot path)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any


def value(any_value: Any) -> Any:
    """An AnyValue as a Python value: str, bool, int, float, bytes, list, dict, or None when unset."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return to_dict(any_value.kvlist_value.values)
    if kind == "string_value":
        return without_nul(any_value.string_value)
    return getattr(any_value, kind)


def without_nul(text: str) -> str:
    """`text` with NUL replaced by U+FFFD: PostgreSQL text and jsonb cannot hold NUL."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def to_dict(attributes: Iterable[Any]) -> dict[str, Any]:
    """Repeated KeyValue as a dict (a repeated key: the last one wins, as the spec allows)."""
    return {without_nul(kv.key): value(kv.value) for kv in attributes}


def get(attributes: Iterable[Any], name: str) -> Any | None:
    """The AnyValue of attribute `name`, or None."""
    for kv in attributes:
        if kv.key == name:
            return kv.value
    return None


def string_attribute(attributes: Iterable[Any], name: str) -> str | None:
    """Attribute `name` as a string (any scalar is formatted), or None when missing or empty."""
    found = get(attributes, name)
    if found is None:
        return None
    result = value(found)
    if result is None or isinstance(result, list | dict):
        return None
    if isinstance(result, bytes):
        return result.decode("utf-8", "replace") or None
    return str(result) or None


def instance_uuid(resource: Any) -> str:
    """The instance of a resource: its `service.instance.id` when UUID-shaped, else a digest shaped as one.

    Plain OpenTelemetry SDKs often send no `service.instance.id`; the digest of the service name, host
    and process id then tells processes apart as well as they can be.
    """
    attrs = to_dict(resource.attributes)
    raw = attrs.get("service.instance.id")
    if isinstance(raw, str) and raw:
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            seed = "service.instance.id\0" + raw
    else:
        parts = (attrs.get(k) for k in ("service.name", "host.name", "host.id", "process.pid"))
        seed = "\0".join("" if p is None else str(p) for p in parts)
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16]))
