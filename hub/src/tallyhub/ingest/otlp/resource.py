"""What an OTLP resource says of the process that sent it: whether it is an apitally 1.0 client."""

from __future__ import annotations

from typing import Any

from tallyhub.ingest.otlp.values import text


def is_apitally(resource: dict[str, Any]) -> bool:
    """True for the apitally 1.0 clients, whose metrics count every request and whose spans are sampled."""
    return (text(resource, "telemetry.distro.name") or "").startswith("apitally")
