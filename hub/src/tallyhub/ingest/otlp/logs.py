"""OTLP log records into app logs and Apitally events (the otlp-spans branch; until then: nothing)."""

from __future__ import annotations

from typing import Any

from tallyhub.ingest.otlp.context import Context, Translated


def translate(request: Any, context: Context) -> Translated:
    """An ExportLogsServiceRequest as a batch."""
    return Translated(context.batch())
