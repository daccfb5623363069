"""OTLP/HTTP bodies into the official generated messages: protobuf or OTLP/JSON, plain or gzip.

A body may be several messages joined end to end (apitally 1.0's spool files): for protobuf, joined
messages parse as their merge; for JSON, each object is parsed and merged in turn. OTLP/JSON spells trace
and span ids in hex where protobuf's JSON mapping expects base64, so they are converted before parsing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tallyhub.ingest.body import BodyTooLarge, CorruptGzip, gunzip_pieces

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
REQUESTS: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}
RESPONSES: dict[str, type[Message]] = {
    "traces": ExportTraceServiceResponse,
    "logs": ExportLogsServiceResponse,
    "metrics": ExportMetricsServiceResponse,
}
HEX_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
MAX_JSON_DEPTH = 64  # OTLP nests AnyValues; deeper bodies are refused, not recursed into


class Unparseable(Exception):
    """The body is not a message of the signal in the declared format (400)."""


class UnsupportedMedia(Exception):
    """The content type or encoding is not one OTLP/HTTP defines (415)."""


def media_type(content_type: str | None) -> str:
    """PROTOBUF or JSON from a Content-Type header (parameters ignored); UnsupportedMedia otherwise."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in (PROTOBUF, JSON):
        return base
    raise UnsupportedMedia(f"Content-Type must be {PROTOBUF} or {JSON}, not {base or 'missing'!r}")


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body as sent before Content-Encoding, at most `limit` bytes (BodyTooLarge past it)."""
    value = (encoding or "identity").strip().lower()
    if value in ("", "identity"):
        if len(body) > limit:
            raise BodyTooLarge(limit)
        return body
    if value != "gzip":
        raise UnsupportedMedia(f"Content-Encoding must be gzip or identity, not {value!r}")
    try:
        return b"".join(gunzip_pieces(body, limit))
    except CorruptGzip as exc:
        raise Unparseable(str(exc)) from None
    except BodyTooLarge:
        raise BodyTooLarge(limit, "decompressed body") from None


def parse(signal: str, media: str, data: bytes) -> Message:
    """The Export*ServiceRequest a body holds (several joined messages parse as their merge)."""
    cls = REQUESTS[signal]
    if media == PROTOBUF:
        try:
            return cls.FromString(data)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise Unparseable(f"not a protobuf {cls.__name__}: {exc}") from None
    message = cls()
    for obj in _json_objects(data):
        if not isinstance(obj, dict):
            raise Unparseable(f"OTLP/JSON must be an object, not {type(obj).__name__}")
        try:
            json_format.ParseDict(_hex_ids_as_base64(obj, 0), message, ignore_unknown_fields=True)
        except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
            raise Unparseable(f"not an OTLP/JSON {cls.__name__}: {exc}") from None
    return message


def _json_objects(data: bytes) -> list[Any]:
    """The JSON values of a body holding one or more of them end to end (whitespace between)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unparseable(f"OTLP/JSON must be UTF-8: {exc}") from None
    decoder = json.JSONDecoder()
    values: list[Any] = []
    pos = 0
    end = len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos == end:
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise Unparseable(f"not JSON: {exc}") from None
        values.append(obj)
    if not values:
        raise Unparseable("empty body")
    return values


def _hex_ids_as_base64(node: Any, depth: int) -> Any:
    """A copy of a parsed OTLP/JSON value with its hex trace and span ids as protobuf JSON's base64."""
    if depth > MAX_JSON_DEPTH:
        raise Unparseable(f"OTLP/JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(node, dict):
        out = {}
        for key, item in node.items():
            if key in HEX_ID_FIELDS and isinstance(item, str):
                try:
                    item = base64.b64encode(bytes.fromhex(item)).decode()
                except ValueError:
                    raise Unparseable(f"{key} must be hex, not {item[:40]!r}") from None
            else:
                item = _hex_ids_as_base64(item, depth + 1)
            out[key] = item
        return out
    if isinstance(node, list):
        return [_hex_ids_as_base64(item, depth + 1) for item in node]
    return node


def response(signal: str, media: str, rejected: int, message: str) -> bytes:
    """The Export*ServiceResponse body, with partial_success when something was rejected."""
    reply = RESPONSES[signal]()
    if rejected or message:
        partial: Any = getattr(reply, "partial_success")  # noqa: B009 (Message has no such attribute)
        field = {
            "traces": "rejected_spans",
            "logs": "rejected_log_records",
            "metrics": "rejected_data_points",
        }
        setattr(partial, field[signal], rejected)
        partial.error_message = message
    if media == PROTOBUF:
        return reply.SerializeToString()
    return json_format.MessageToJson(reply, indent=None).encode()
