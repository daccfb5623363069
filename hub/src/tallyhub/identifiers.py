"""Client IDs and environment names, as the clients spell them (PROTOCOL.md §5)."""

from __future__ import annotations

import re
import uuid

ENV_PATTERN = re.compile(r"^[\w-]{1,32}$")
# The environment of an app's data sent to environments past its cap (storage.caps): a name no
# client can send, so it never mixes with a real environment.
OTHER_ENV = "(other)"


def normalise_client_id(raw: str) -> str | None:
    """The canonical (lower-case, hyphenated) client ID, or None when it is no UUID."""
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        return None


def is_valid_env(env: str) -> bool:
    return ENV_PATTERN.fullmatch(env) is not None


def is_env_filter(env: str) -> bool:
    """An environment the dashboard and the API can filter by: a valid name or the "other" one."""
    return env == OTHER_ENV or is_valid_env(env)
