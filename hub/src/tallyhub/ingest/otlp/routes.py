"""The OTLP/HTTP receiver: POST /v1/traces, /v1/logs and /v1/metrics (PROTOCOL-OTLP.md), one transaction each.

Status codes follow OTLP/HTTP and what apitally 1.0 does with them: it keeps a spool file on 408, 429
and 5xx (and sends it again, whole), and drops it on any other status. So 401, 400, 413 and 415 mean
"this will never be accepted", 429/503 with Retry-After mean "later", and a body already stored (same
app, same decompressed bytes) is acknowledged again without being counted twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.protobuf import json_format
from google.rpc import status_pb2
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.concurrency import run_in_threadpool

from tallyhub.identifiers import is_valid_env
from tallyhub.ingest.body import BodyTooLarge, read_body
from tallyhub.ingest.otlp import decode, logs, metrics, traces
from tallyhub.ingest.otlp.auth import Tokens, bearer
from tallyhub.ingest.otlp.context import Context, Translated, env_of
from tallyhub.ingest.v2.routes import _in_thread, _writer
from tallyhub.ingest.writer import UnknownApp, Writer
from tallyhub.settings import Settings

router = APIRouter(include_in_schema=False)

Translator = Callable[[Any, Context], Translated]
# One translator per signal (ingest/otlp/<signal>.py), each into the protocol-neutral batch.
TRANSLATORS: dict[str, Translator] = {
    "traces": traces.translate,
    "logs": logs.translate,
    "metrics": metrics.translate,
}
DEFAULT_ENV = "dev"
RETRY_BUSY_SECONDS = 1  # Retry-After when this process has too many exports in flight
RETRY_DATABASE_SECONDS = 5  # Retry-After when the database is unavailable


class Refused(Exception):
    """An export the hub does not accept: HTTP status, message and Retry-After (seconds) if any."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def _tokens(request: Request) -> Tokens:
    state = request.app.state
    tokens: Tokens | None = getattr(state, "otlp_tokens", None)
    if tokens is None:
        tokens = state.otlp_tokens = Tokens(state.db)
    return tokens


def _headers(settings: Settings, retry_after: int | None = None) -> dict[str, str]:
    headers = {}
    if settings.otlp_export_interval_seconds:
        headers["Apitally-Export-Interval"] = str(settings.otlp_export_interval_seconds)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return headers


def _status_body(media: str, code: int, message: str) -> bytes:
    """A google.rpc.Status, as OTLP/HTTP error responses carry one, in the request's encoding."""
    status = status_pb2.Status(code=code, message=message)
    if media == decode.PROTOBUF:
        return status.SerializeToString()
    return json_format.MessageToJson(status, indent=None).encode()


# gRPC codes for the HTTP statuses used (the Status message's `code` field is a gRPC code).
GRPC_CODES = {400: 3, 401: 16, 413: 3, 415: 3, 429: 8, 503: 14}


def item_count(signal: str, message: Any) -> int:
    """The spans, log records or metric data points an export holds (what partial_success counts)."""
    if signal == "traces":
        return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if signal == "logs":
        return sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in message.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(metric, kind).data_points)
    return total


def _resources(signal: str, message: Any) -> Any:
    field = {"traces": "resource_spans", "logs": "resource_logs", "metrics": "resource_metrics"}[signal]
    return getattr(message, field)


def _export_env(header: str | None, signal: str, message: Any) -> tuple[str, bool]:
    """The export's env by the rule (header, else the first resource naming one, else dev)."""
    if header is not None and header.strip():
        return header.strip(), True
    for entry in _resources(signal, message):
        env = env_of(entry.resource)
        if env:
            return env, False
    return DEFAULT_ENV, False


def _key(data: bytes, header_env: str | None) -> str:
    """The idempotency key: a digest of what was sent (after gunzip), shaped as a UUID."""
    digest = hashlib.sha256(data)
    if header_env:
        digest.update(b"\0env\0" + header_env.encode())
    return str(uuid.UUID(bytes=digest.digest()[:16]))


@dataclasses.dataclass(frozen=True, slots=True)
class Export:
    """One export as received: whose, which signal, its body as sent and the headers that matter."""

    app_id: int
    signal: str
    media: str
    body: bytes
    encoding: str | None  # Content-Encoding
    header_env: str | None  # Apitally-Env
    limit: int  # bytes after decompression
    now: float


def _process(writer: Writer, export: Export) -> tuple[int, str]:
    """Decode, translate and store one export; the (rejected, message) of its partial_success."""
    signal = export.signal
    data = decode.decompress(export.body, export.encoding, export.limit)
    message = decode.parse(signal, export.media, data)
    env, from_header = _export_env(export.header_env, signal, message)
    if not is_valid_env(env):
        return item_count(signal, message), f"invalid env {env[:40]!r}: 1-32 letters, digits, '_' or '-'"
    key = _key(data, export.header_env)
    context = Context(export.app_id, env, export.now, f"v1/{signal}", key, from_header)
    translated = TRANSLATORS[signal](message, context)
    writer.store(export.app_id, env, translated.batch)
    return translated.rejected, translated.message


async def _export(signal: str, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    try:
        media = decode.media_type(request.headers.get("content-type"))
    except decode.UnsupportedMedia as exc:
        return Response(
            _status_body(decode.JSON, GRPC_CODES[415], str(exc)),
            status_code=415,
            media_type=decode.JSON,
            headers=_headers(settings),
        )
    state = request.app.state
    try:
        token = bearer(request.headers.get("authorization"))
        if token is None:
            raise Refused(401, "an Authorization: Bearer <write token> header is required")
        tokens = _tokens(request)
        app_id = tokens.cached(token) or await run_in_threadpool(tokens.app_id, token)
        if app_id is None:
            raise Refused(401, "unknown or revoked write token")
        in_flight = getattr(state, "otlp_in_flight", 0)
        if in_flight >= settings.otlp_max_concurrent_exports:
            raise Refused(429, "too many exports at once", RETRY_BUSY_SECONDS)
        state.otlp_in_flight = in_flight + 1
        try:
            try:
                body = await read_body(request, settings.max_body_bytes)
            except BodyTooLarge as exc:
                raise Refused(413, str(exc)) from None
            writer = _writer(request)
            export = Export(
                app_id,
                signal,
                media,
                body,
                request.headers.get("content-encoding"),
                request.headers.get("apitally-env"),
                settings.max_body_bytes,
                writer.clock(),
            )
            rejected, message = await _in_thread(request, _process, writer, export)
        finally:
            state.otlp_in_flight -= 1
    except Refused as exc:
        return _refusal(media, settings, exc)
    except decode.Unparseable as exc:
        return _refusal(media, settings, Refused(400, str(exc)))
    except decode.UnsupportedMedia as exc:
        return _refusal(media, settings, Refused(415, str(exc)))
    except BodyTooLarge as exc:
        return _refusal(media, settings, Refused(413, str(exc)))
    except UnknownApp as exc:
        _tokens(request).forget_app(int(exc.args[0]))
        return _refusal(media, settings, Refused(401, "unknown or revoked write token"))
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            return _refusal(media, settings, Refused(503, "database unavailable", RETRY_DATABASE_SECONDS))
        raise
    return Response(
        decode.response(signal, media, rejected, message),
        status_code=200,
        media_type=media,
        headers=_headers(settings),
    )


def _refusal(media: str, settings: Settings, exc: Refused) -> Response:
    return Response(
        _status_body(media, GRPC_CODES.get(exc.status, 2), exc.message),
        status_code=exc.status,
        media_type=media,
        headers=_headers(settings, exc.retry_after),
    )


@router.post("/v1/traces")
async def export_traces(request: Request) -> Response:
    return await _export("traces", request)


@router.post("/v1/logs")
async def export_logs(request: Request) -> Response:
    return await _export("logs", request)


@router.post("/v1/metrics")
async def export_metrics(request: Request) -> Response:
    return await _export("metrics", request)
