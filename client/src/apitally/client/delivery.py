"""Delivery to the hub: the protocol's answers (404 disables, 422 drops), retries, and the retry buffer."""

from __future__ import annotations

import enum
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from apitally.client.config import MAX_QUEUE_AGE, MAX_QUEUE_BYTES, REQUEST_TIMEOUT
from apitally.client.transport import HubResponse, Transport, TransportError

logger = logging.getLogger("apitally")

MAX_ATTEMPTS = 3
BACKOFF_BASE = 1.0  # seconds; waits are full jitter: U(0, base * 2**n)


class DeliveryOutcome(enum.Enum):
    """What became of one attempt to deliver a payload to the hub."""

    SENT = "sent"
    DROPPED = "dropped"  # 422: the hub will never take it
    DISABLED = "disabled"  # 404: unknown client ID
    RETRY = "retry"  # not sent, worth trying again later


def classify(response: HubResponse) -> DeliveryOutcome:
    """What a hub answer means for the payload (PROTOCOL.md §1A)."""
    if response.status < 400:
        return DeliveryOutcome.SENT
    if response.status == 404:
        return DeliveryOutcome.DISABLED
    if response.status == 422:
        detail = response.body[:500].decode("utf-8", "replace")
        logger.warning("Apitally hub rejected a payload (422): %s", detail)
        return DeliveryOutcome.DROPPED
    return DeliveryOutcome.RETRY


class Hub:
    """The hub endpoints of one client ID and environment."""

    def __init__(self, prefix: str, transport: Transport) -> None:
        self.prefix = prefix
        self.transport = transport

    def post(
        self, path: str, body: bytes, content_type: str | None, deadline: float | None
    ) -> HubResponse | None:
        """One POST with the protocol's timeout (cut to meet `deadline`); None if it failed in transit."""
        timeout = REQUEST_TIMEOUT
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                return None
        try:
            return self.transport.post(self.prefix + path, body, content_type, timeout)
        except TransportError as error:
            logger.debug("Apitally hub unreachable: %s", error)
            return None

    def send_json(
        self, path: str, body: bytes, deadline: float | None, wait: Callable[[float], bool]
    ) -> DeliveryOutcome:
        """POST a JSON body, retried with exponential backoff and jitter until `wait` says stop."""
        for attempt in range(MAX_ATTEMPTS):
            if attempt and wait(random.uniform(0, BACKOFF_BASE * 2 ** (attempt - 1))):
                break
            response = self.post(path, body, "application/json", deadline)
            outcome = classify(response) if response is not None else DeliveryOutcome.RETRY
            if outcome is not DeliveryOutcome.RETRY:
                return outcome
        return DeliveryOutcome.RETRY


def encode(payload: dict[str, object]) -> bytes:
    return json.dumps(payload).encode()


@dataclass
class Payload:
    created: float  # time.time() when built
    body: bytes


class PayloadQueue:
    """Sync payloads not yet accepted: kept for up to an hour and a byte bound; the oldest go first."""

    def __init__(self, max_age: float = MAX_QUEUE_AGE, max_bytes: int = MAX_QUEUE_BYTES) -> None:
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.dropped = 0
        self._items: deque[Payload] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, payload: Payload) -> None:
        self._items.append(payload)
        self._bytes += len(payload.body)
        while self._bytes > self.max_bytes and len(self._items) > 1:
            self._drop_oldest()

    def expire(self) -> None:
        cutoff = time.time() - self.max_age
        while self._items and self._items[0].created < cutoff:
            self._drop_oldest()

    def peek(self) -> Payload | None:
        return self._items[0] if self._items else None

    def remove_oldest(self) -> None:
        self._bytes -= len(self._items.popleft().body)

    def _drop_oldest(self) -> None:
        self.remove_oldest()
        self.dropped += 1
