"""OTLP attribute values (`AnyValue`, `KeyValue` lists) as plain Python values, lists and dicts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def value(v: AnyValue) -> Any:
    """The value an AnyValue holds; None when it holds none."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [value(item) for item in v.array_value.values]
    if which == "kvlist_value":
        return attributes(v.kvlist_value.values)
    return getattr(v, which)


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """A KeyValue list as a dict (a repeated key: the last one wins, as the SDKs dedupe)."""
    return {pair.key: value(pair.value) for pair in pairs}


def text(attrs: dict[str, Any], *keys: str, limit: int | None = None) -> str | None:
    """The first of `keys` present as a non-empty value, as a string cut to `limit`; None if none is."""
    for key in keys:
        v = attrs.get(key)
        if v is not None and v != "":
            s = v if isinstance(v, str) else str(v)
            return s[:limit] if limit is not None else s
    return None


def integer(attrs: dict[str, Any], *keys: str) -> int | None:
    """The first of `keys` present as an integer (or a string of digits); None if none is."""
    for key in keys:
        v = attrs.get(key)
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            return v
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
    return None
