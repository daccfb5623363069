"""Which app an OTLP export is for: its `Authorization: Bearer <write token>`, with a short cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tallyhub.storage import write_tokens
from tallyhub.storage.database import Database

CACHE_SECONDS = 30.0  # a revoked token (or a deleted app) is refused within this
MAX_CACHED = 10_000


class Tokens:
    """Write-token lookups for one database; hits are remembered for CACHE_SECONDS, misses not at all."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._hits: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> int | None:
        hit = self._hits.get(token)
        return hit[0] if hit is not None and hit[1] > self.clock() else None

    def app_id(self, token: str) -> int | None:
        """The app of a valid token, or None."""
        now = self.clock()
        hit = self._hits.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.db.read() as conn:
            app_id = write_tokens.app_for(conn, token, now)
        if app_id is not None:
            with self._lock:
                if len(self._hits) >= MAX_CACHED:
                    self._hits.clear()
                self._hits[token] = (app_id, now + CACHE_SECONDS)
        return app_id

    def forget_app(self, app_id: int) -> None:
        with self._lock:
            self._hits = {k: v for k, v in self._hits.items() if v[0] != app_id}


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
