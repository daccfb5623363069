"""Traces of requests (`capture_traces=True`): the spans started while a request is handled.

The collecting needs the OpenTelemetry API and SDK (`_otel_collector`), which the client does not
require: without them `capture_traces` is reported once, clearly, and requests are logged without
spans.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apitally.client._otel_collector import SpanCollector

logger = logging.getLogger("apitally")

_collector: SpanCollector | None = None
_missing = False
_lock = threading.Lock()


def span_collector() -> SpanCollector | None:
    """The process's span collector (made and registered once), or None without OpenTelemetry."""
    global _collector, _missing
    with _lock:
        if _collector is None and not _missing:
            try:
                from apitally.client._otel_collector import SpanCollector
            except ImportError as exc:
                _missing = True
                logger.warning(
                    "Apitally: capture_traces=True needs the packages opentelemetry-api and "
                    "opentelemetry-sdk (%s); requests are logged without their spans",
                    exc,
                )
                return None
            _collector = SpanCollector.register()
        return _collector
