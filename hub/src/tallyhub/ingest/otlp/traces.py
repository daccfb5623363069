"""OTLP spans into request logs and traces (owned by the otlp-spans branch; until then, nothing is kept)."""

from __future__ import annotations

from typing import Any

from tallyhub.ingest.otlp.context import Context, Translated


def translate(request: Any, context: Context) -> Translated:
    """An ExportTraceServiceRequest as a batch."""
    return Translated(context.batch())
