"""Client IDs and environment names, as the clients spell them (PROTOCOL.md §5)."""

from __future__ import annotations

import re
import uuid

ENV_PATTERN = re.compile(r"^[\w-]{1,32}$")


def normalise_client_id(raw: str) -> str | None:
    """The canonical (lower-case, hyphenated) client ID, or None when it is no UUID."""
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        return None


def is_valid_env(env: str) -> bool:
    return ENV_PATTERN.fullmatch(env) is not None
