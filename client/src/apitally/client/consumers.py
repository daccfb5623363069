"""API consumers: the identifier a request is counted under, and the registry of names and groups."""

from __future__ import annotations

import threading
from typing import Any

MAX_CONSUMERS = 100_000


class ApitallyConsumer:
    """A consumer: identifier (stripped, ≤128 chars), optional name and group (≤64 chars)."""

    __slots__ = ("group", "identifier", "name")

    def __init__(self, identifier: object, name: object = None, group: object = None) -> None:
        # No helper call per field: apps make one consumer per request (`set_consumer`).
        self.identifier = str(identifier).strip()[:128]
        self.name = str(name).strip()[:64] if name else None
        self.group = str(group).strip()[:64] if group else None

    def __repr__(self) -> str:
        return f"ApitallyConsumer({self.identifier!r}, name={self.name!r}, group={self.group!r})"


def consumer_identifier(value: object) -> str | None:
    """The identifier of a `g.apitally_consumer` value (string or ApitallyConsumer, or the
    (identifier, name, group) an integration noted of one), or None."""
    if not value:
        return None
    if isinstance(value, ApitallyConsumer):
        return value.identifier
    if type(value) is tuple:
        return value[0] or None
    return str(value).strip()[:128] or None


class ConsumerRegistry:
    """Consumers with a name or group; each is reported when first seen and when either changes."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str | None, str | None]] = {}
        self._updated: set[str] = set()
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, consumer: ApitallyConsumer) -> None:
        """Note `consumer` if it carries a name or group; a new value overrides, an empty one never clears."""
        self.add_fields(consumer.identifier, consumer.name, consumer.group)

    def add_fields(self, ident: str, name: str | None, group: str | None) -> None:
        """`add` for a consumer given as its (cleaned) identifier, name and group."""
        if not name and not group:
            return
        known = self._known.get(ident)
        if known is not None and (not name or name == known[0]) and (not group or group == known[1]):
            return  # the common case: nothing new, no lock
        with self._lock:
            known = self._known.get(ident)
            if known is None:
                if len(self._known) >= MAX_CONSUMERS:
                    self.dropped += 1
                    return
                self._known[ident] = (name, group)
            else:
                self._known[ident] = (name or known[0], group or known[1])
            self._updated.add(ident)

    def take_updated(self) -> list[dict[str, Any]]:
        """The consumers added or changed since the last call."""
        with self._lock:
            updated, self._updated = self._updated, set()
            return [
                {"identifier": ident, "name": self._known[ident][0], "group": self._known[ident][1]}
                for ident in updated
            ]

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._known.clear()
        self._updated.clear()
