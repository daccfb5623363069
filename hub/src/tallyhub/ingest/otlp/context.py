"""What a translator is given (`Context`) and gives back (`Translated`): an export's batch, refusals."""

from __future__ import annotations

import dataclasses
from typing import Any

from tallyhub.ingest.batch import Batch
from tallyhub.ingest.otlp.attributes import string_attribute

ENV_ATTRIBUTES = ("deployment.environment.name", "deployment.environment")  # newer name first


def env_of(resource: Any) -> str | None:
    """The env a resource names, or None when it names none."""
    for name in ENV_ATTRIBUTES:
        env = string_attribute(resource.attributes, name)
        if env:
            return env
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """The app, the export's env (chosen and validated by the receiver), when it arrived and its key."""

    app_id: int
    env: str
    now: float  # epoch seconds
    kind: str  # "v1/traces", "v1/logs" or "v1/metrics": Batch.kind
    key: str  # a digest of the decompressed body shaped as a UUID: Batch.key, the idempotency key
    header_env: bool = False  # the env came from the Apitally-Env header: it overrides every resource's

    def batch(self) -> Batch:
        """An empty batch keyed as this export."""
        return Batch(self.kind, self.key)

    def accepts(self, resource: Any) -> bool:
        """Whether a resource belongs to the export's env (one export is one env, one transaction)."""
        if self.header_env:
            return True
        env = env_of(resource)
        return env is None or env == self.env


@dataclasses.dataclass(slots=True)
class Translated:
    """A translator's result: the batch to store and the items it refused, with why (partial_success)."""

    batch: Batch
    rejected: int = 0
    messages: list[str] = dataclasses.field(default_factory=list)

    def reject(self, count: int, why: str) -> None:
        if count <= 0:
            return
        self.rejected += count
        if why not in self.messages:
            self.messages.append(why)

    @property
    def message(self) -> str:
        return "; ".join(self.messages)
