"""What an OTLP resource says of the process that sent it: its instance key and whether it is apitally 1.0."""

from __future__ import annotations

from typing import Any

from tallyhub.ingest.otlp.values import text

INSTANCE_KEY_CHARS = 128  # request_sources.instance


def instance_key(resource: dict[str, Any]) -> str:
    """`service.instance.id`, else `service.name` (SDKs without an instance detector), else ""."""
    return text(resource, "service.instance.id", "service.name", limit=INSTANCE_KEY_CHARS) or ""


def is_apitally(resource: dict[str, Any]) -> bool:
    """True for the apitally 1.0 clients, whose metrics count every request and whose spans are sampled."""
    return (text(resource, "telemetry.distro.name") or "").startswith("apitally")
