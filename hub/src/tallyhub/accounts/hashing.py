"""Hashes of random bearer secrets (session tokens, one-time links) as stored in the database.

These secrets carry 256 random bits, so one SHA-256 is enough: there is nothing to brute-force,
and a stolen table cannot be replayed as cookies or links.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> str:
    """A fresh URL-safe secret with 256 random bits."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """The SHA-256 hex digest under which a secret is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()
