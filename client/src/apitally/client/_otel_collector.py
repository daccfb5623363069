"""The OpenTelemetry span processor behind `capture_traces` (imported only when the SDK is installed).

Each captured request runs inside a span of the client's own, named "root" (renamed to the view
function's name once the request is routed, if it has no parent, as the official client does) and
made the current span: the spans the app starts while handling the request are its descendants. The
processor sees every span of the process; it keeps those of the traces being captured whose
parent it already keeps, serialised as the Hub v2 `/log` format lists them (PROTOCOL.md §2A.4).
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

MAX_SPANS = 1000  # per request; the spans beyond are counted in `dropped`
ROOT_NAME = "root"

SpanDict = dict[str, Any]
# What `start` hands the request: (the root span, the context token that made it current)
Started = tuple[Span, object]


class SpanCollector(SpanProcessor):
    """Collects the spans of the requests being captured, per trace."""

    def __init__(self, tracer: trace_api.Tracer | None = None) -> None:
        self._tracer = tracer
        self._kept: dict[int, set[int]] = {}  # trace id -> ids of the spans kept
        self._spans: dict[int, list[SpanDict]] = {}
        self._lock = threading.Lock()
        self.dropped = 0

    @classmethod
    def register(cls) -> SpanCollector:
        """A collector added to the global tracer provider (an SDK one is set if the app has none)."""
        provider: Any = trace_api.get_tracer_provider()
        if not callable(getattr(provider, "add_span_processor", None)):
            provider = TracerProvider()
            trace_api.set_tracer_provider(provider)
            provider = trace_api.get_tracer_provider()  # the app's, if it set one meanwhile
        collector = cls()
        provider.add_span_processor(collector)
        collector._tracer = provider.get_tracer("apitally")
        return collector

    # -- one request ------------------------------------------------------------------------------

    def start(self) -> Started:
        """Start the request's root span and make it current (the caller must `finish` it)."""
        assert self._tracer is not None
        root: Any = self._tracer.start_span(ROOT_NAME)
        ctx = root.get_span_context()
        with self._lock:
            self._kept[ctx.trace_id] = {ctx.span_id}
            self._spans[ctx.trace_id] = []
        token = context_api.attach(trace_api.set_span_in_context(root))
        return root, token

    def finish(self, started: Started, view_name: str | None) -> tuple[str, list[SpanDict]]:
        """End the root span; the trace id (32 hex digits) and the spans kept, the root named `view_name`."""
        root, token = started
        context_api.detach(token)  # type: ignore[arg-type]
        root.end()
        ctx = root.get_span_context()
        with self._lock:
            self._kept.pop(ctx.trace_id, None)
            spans = self._spans.pop(ctx.trace_id, [])
        # As the official client: renamed only when it starts its own trace (FastAPI's own server span,
        # when a tracer provider is set, makes it a child and leaves it "root").
        if view_name and root.parent is None:
            root_id = format(ctx.span_id, "016x")
            for span in reversed(spans):
                if span["span_id"] == root_id:
                    span["name"] = view_name
                    break
        return format(ctx.trace_id, "032x"), spans

    # -- the processor ----------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: context_api.Context | None = None) -> None:
        ctx = span.get_span_context()
        kept = self._kept.get(ctx.trace_id)  # most spans of a process belong to no captured request
        if kept is None or span.parent is None:
            return
        with self._lock:
            if span.parent.span_id in kept:
                kept.add(ctx.span_id)

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.get_span_context()
        if ctx is None:
            return
        kept = self._kept.get(ctx.trace_id)
        if kept is None or ctx.span_id not in kept:
            return
        data = _serialise(span)
        with self._lock:
            spans = self._spans.get(ctx.trace_id)
            if spans is None:
                return  # the request finished meanwhile
            if len(spans) >= MAX_SPANS:
                self.dropped += 1
                return
            spans.append(data)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _serialise(span: ReadableSpan) -> SpanDict:
    ctx: Any = span.get_span_context()
    parent = span.parent
    data: SpanDict = {
        "span_id": format(ctx.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_time": span.start_time,
        "end_time": span.end_time,
    }
    status = span.status
    if status is not None and status.status_code is not trace_api.StatusCode.UNSET:
        data["status"] = status.status_code.name
    if span.attributes:
        data["attributes"] = dict(span.attributes)
    return data
