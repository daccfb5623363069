"""Hub v2 startup and sync bodies (PROTOCOL.md §2A) for tests that go through ingestion."""

from __future__ import annotations

import time
import uuid
from typing import Any


def startup_body(instance: str, paths: list[tuple[str, str]], app_version: str = "1.2.3") -> dict[str, Any]:
    return {
        "instance_uuid": instance,
        "message_uuid": str(uuid.uuid4()),
        "paths": [{"method": method, "path": path} for method, path in paths],
        "versions": {"python": "3.11.7", "apitally": "0.25.1", "flask": "3.1.3", "app": app_version},
        "client": "python:flask",
    }


def request_entry(
    method: str,
    path: str,
    status: int,
    count: int,
    ms: int,
    consumer: str | None = None,
    response_size: int = 0,
    request_size: int = 0,
) -> dict[str, Any]:
    """`count` requests of one key, each taking `ms` and sending `response_size` bytes."""
    return {
        "consumer": consumer,
        "method": method,
        "path": path,
        "status_code": status,
        "request_count": count,
        "request_size_sum": request_size * count,
        "response_size_sum": response_size * count,
        "response_times": {str(ms // 10 * 10): count},
        "request_sizes": {str(request_size // 1000): count},
        "response_sizes": {str(response_size // 1000): count},
    }


def sync_body(instance: str, timestamp: float | None = None, **parts: Any) -> dict[str, Any]:
    """A sync with `requests`, `server_errors`, `validation_errors`, `consumers`, `resources` as given."""
    return {
        "instance_uuid": instance,
        "message_uuid": str(uuid.uuid4()),
        "timestamp": time.time() if timestamp is None else timestamp,
        "requests": parts.get("requests", []),
        "validation_errors": parts.get("validation_errors", []),
        "server_errors": parts.get("server_errors", []),
        "consumers": parts.get("consumers", []),
        "resources": parts.get("resources"),
    }
