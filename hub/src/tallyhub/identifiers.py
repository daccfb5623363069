"""Client IDs, environment names and methods: one rule each for ingestion and dashboard (PROTOCOL.md §5)."""

from __future__ import annotations

import re
import uuid

# ASCII only: Python's Unicode `\w` (what the 0.x Python client allows) lets `ｐｒｏｄ`, `prød` or `²`
# create environments that look like another one; Node's client is ASCII-only already.
ENV_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
ENV_RULE = "1-32 ASCII letters, digits, '_' or '-'"
# A method is a name (letters, maybe hyphenated as in M-SEARCH), any case: the wider HTTP token syntax
# would let `GET'&|~^` become an endpoint. Upper-cased where it is stored and compared.
METHOD_PATTERN = re.compile(r"[A-Za-z][A-Za-z-]{0,15}")
METHOD_RULE = "an HTTP method: 1-16 ASCII letters or '-', starting with a letter"
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
    """Whether `env` is an environment name ingestion would create and the dashboard would select."""
    return ENV_PATTERN.fullmatch(env) is not None


def is_valid_method(method: str) -> bool:
    """Whether `method` (any case) is a method ingestion would store and the dashboard would filter by."""
    return METHOD_PATTERN.fullmatch(method) is not None


def is_env_filter(env: str) -> bool:
    """An environment the dashboard and the API can filter by: a valid name or the "other" one."""
    return env == OTHER_ENV or is_valid_env(env)
