"""Around one request's handling: start capturing its application logs and spans, then take them.

Shared by the integrations; `start` and `stop` run in the request's own context (the thread or the
task that runs the app), as the context variable and the current span are per context.
"""

from __future__ import annotations

from typing import Any

from apitally.client import app_logs
from apitally.client.app_spans import span_collector
from apitally.client.config import ClientConfig
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.request_log import Telemetry


class TelemetryCapture:
    """What a middleware captures besides the request: its app's logs and spans, as configured."""

    def __init__(self, config: RequestLoggingConfig) -> None:
        self.logs = config.capture_logs
        self.spans = span_collector() if config.capture_traces else None
        if self.logs:
            app_logs.install()

    @classmethod
    def of(
        cls, config: ClientConfig, logging: bool, options: RequestLoggingConfig
    ) -> TelemetryCapture | None:
        """The capture of a middleware, or None if it captures nothing (request logging off, or
        neither option set, or traces asked for without OpenTelemetry installed)."""
        if not (config.enabled and logging and (options.capture_logs or options.capture_traces)):
            return None
        capture = cls(options)
        return capture if capture.logs or capture.spans is not None else None

    def start(self) -> tuple[Any, Any, Any]:
        """Begin a request: (its log buffer, the buffer's context token, its root span), for `stop`."""
        buffer = token = started = None
        if self.logs:
            buffer = app_logs.LogBuffer()
            token = app_logs.current_buffer.set(buffer)
        if self.spans is not None:
            started = self.spans.start()
        return buffer, token, started

    def stop(self, begun: tuple[Any, Any, Any], view_name: str | None) -> Telemetry:
        """End a request begun by `start`: what it logged and traced, the root span named `view_name`."""
        buffer, token, started = begun
        if token is not None:
            app_logs.current_buffer.reset(token)
        spans: list[dict[str, Any]] = []
        trace_id = None
        if started is not None and self.spans is not None:
            trace_id, spans = self.spans.finish(started, view_name)
        return (tuple(buffer.entries) if buffer is not None else (), spans, trace_id)


def telemetry_weight(telemetry: Telemetry) -> int:
    """About the bytes a request's logs and spans take in the request-log buffer."""
    entries, spans, _ = telemetry
    return sum(len(e[3]) + len(e[1]) + len(e[4]) + 64 for e in entries) + 512 * len(spans)
