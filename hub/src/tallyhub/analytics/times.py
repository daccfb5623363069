"""How the analytics' answers spell times: ISO 8601 UTC ending in Z."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso(seconds: float) -> str:
    """ISO 8601 UTC ending in Z: whole seconds, or milliseconds when the time has a fraction."""
    if seconds == int(seconds):  # the common case (bucket starts), done cheaply: series have 1000s
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    moment = datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"
