"""Typed reads of OTLP attributes once they are a dict (attributes.to_dict): the first of several names."""

from __future__ import annotations

from typing import Any

from tallyhub.ingest.otlp.attributes import to_dict as attributes
from tallyhub.ingest.otlp.attributes import value

__all__ = ["attributes", "integer", "text", "value"]


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
