"""Client settings: the hub address, identifier validation and the protocol's fixed limits."""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass

logger = logging.getLogger("apitally")

DEFAULT_HUB_BASE_URL = "http://localhost:8000"
HUB_VERSION = "v2"
REQUEST_TIMEOUT = 10.0
INITIAL_SYNC_INTERVAL = 10.0
INITIAL_SYNC_DURATION = 3600.0
SYNC_INTERVAL = 60.0
FIRST_SYNC_DELAY = 1.0  # lets routes registered after the middleware appear in the startup payload
MAX_QUEUE_AGE = 3600.0
MAX_QUEUE_BYTES = 32 * 1024 * 1024
EXIT_FLUSH_SECONDS = 5.0

# ASCII, as the hub takes env names (the official Python client's Unicode \w would let look-alikes through).
_ENV_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def valid_client_id(client_id: str) -> bool:
    """True if `client_id` parses as a UUID (any form `uuid.UUID` accepts, as the official client)."""
    try:
        uuid.UUID(client_id)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def valid_env(env: str) -> bool:
    """True if `env` has 1–32 ASCII letters, digits, '_' or '-'."""
    return isinstance(env, str) and _ENV_RE.fullmatch(env) is not None


def resolve_hub_url(hub_url: str | None) -> str:
    """The hub base URL: the argument, else APITALLY_HUB_BASE_URL (read now), else the local default."""
    url = hub_url or os.environ.get("APITALLY_HUB_BASE_URL") or DEFAULT_HUB_BASE_URL
    return url.rstrip("/")


@dataclass(frozen=True)
class ClientConfig:
    """Validated settings of one client; `enabled` is False when `client_id` or `env` is bad."""

    client_id: str
    env: str
    hub_url: str
    proxy: str | None
    enabled: bool

    @property
    def prefix(self) -> str:
        return f"{self.hub_url}/{HUB_VERSION}/{self.client_id}/{self.env}"

    @classmethod
    def build(cls, client_id: object, env: object, hub_url: str | None, proxy: str | None) -> ClientConfig:
        """Validate once, loudly: a bad value is logged by name and disables the client."""
        enabled = True
        if not isinstance(client_id, str) or not valid_client_id(client_id):
            logger.error("Apitally disabled: invalid client_id %r (expected a UUID string)", client_id)
            enabled = False
        if not isinstance(env, str) or not valid_env(env):
            logger.error(
                "Apitally disabled: invalid env %r (expected 1-32 letters, digits, '_' or '-')",
                env,
            )
            enabled = False
        return cls(str(client_id), str(env), resolve_hub_url(hub_url), proxy, enabled)
