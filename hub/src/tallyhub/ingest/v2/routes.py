"""The /v2/{client_id}/{env}/startup|sync|log handlers of the Hub v2 protocol (PROTOCOL.md §1A).

Status codes are chosen for what the official clients do with them: 404 disables a client for good, so
it means "no such client ID" and nothing else; 422 drops the payload without a retry and must carry a JSON
body; 413 is retried by the clients, which is harmless (they give up after an hour). A request-log file
with a corrupt gzip stream or any invalid line is refused whole (422) and nothing of it is stored: the
clients write these files themselves, so a bad line means a broken file, not a bad request among good ones.
A time outside the ingestion window is 422 too (tallyhub.ingest.window). A log file is inflated, split and
stored in parts as it comes, in one transaction, so its memory is bounded by a part, not by the file; an
app past its request-log budget gets 402 with Retry-After, which pauses the clients' request logging.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from tallyhub.identifiers import ENV_RULE, is_valid_env, normalise_client_id
from tallyhub.ingest.batch import Batch
from tallyhub.ingest.body import (
    BodyTooLarge,
    CorruptGzip,
    LineTooLong,
    gunzip_pieces,
    read_body,
    split_lines,
    without_nul,
)
from tallyhub.ingest.log_budget import LogBudget, OverBudget
from tallyhub.ingest.v2 import times, translate
from tallyhub.ingest.v2.models import Startup, Sync, canonical_uuid
from tallyhub.ingest.v2.request_log import RequestLogLine
from tallyhub.ingest.window import OutOfWindow, Window
from tallyhub.ingest.writer import UnknownApp, Writer
from tallyhub.settings import Settings
from tallyhub.storage.caps import Caps
from tallyhub.storage.database import Database

router = APIRouter(include_in_schema=False)

M = TypeVar("M", Startup, Sync)
MAX_REPORTED_ERRORS = 20
# A request-log file is stored in parts of this many lines or bytes (inflated), whichever comes first.
PART_LINES = 500
PART_BYTES = 4_000_000
# No client writes a line this long (bodies are cut to 50 KB, log messages to 2 KB each).
MAX_LINE_BYTES = 8_000_000
_writer_lock = threading.Lock()


class Rejected(Exception):
    """A request the hub refuses: status code and JSON detail."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


# SQLite takes one writer at a time, but the batch writer stores the payloads that queue behind a write
# in one transaction (group commit): threads enough for a group to form while one writes, few enough that
# parsing threads don't just fight over the GIL. PostgreSQL writers get the default thread pool.
SQLITE_INGEST_THREADS = 8

T = TypeVar("T")


async def _in_thread(request: Request, func: Callable[..., T], *args: Any) -> T:
    """Run blocking ingest work off the event loop, at most SQLITE_INGEST_THREADS at once on SQLite."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "ingest_limiter", None)
    if limiter is None and _writer(request).db.is_sqlite:
        limiter = state.ingest_limiter = anyio.CapacityLimiter(SQLITE_INGEST_THREADS)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


def _writer(request: Request) -> Writer:
    state = request.app.state
    writer: Writer | None = getattr(state, "ingest_writer", None)
    if writer is None:
        with _writer_lock:
            writer = getattr(state, "ingest_writer", None)
            if writer is None:
                db: Database = state.db
                settings = state.settings
                limits = Caps(
                    settings.max_consumers_per_app, settings.max_endpoints_per_app, settings.max_envs_per_app
                )
                writer = state.ingest_writer = Writer(db, limits=limits)
    return writer


def _errors(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """Pydantic's errors without the offending input echoed back (it can be megabytes)."""
    return [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)[
            :MAX_REPORTED_ERRORS
        ]
    ]


async def _target(request: Request, client_id: str, env: str) -> tuple[Writer, int]:
    canonical = normalise_client_id(client_id)
    writer = _writer(request)
    app_id = None
    if canonical:
        app_id = writer.cached_app_id(canonical) or await run_in_threadpool(writer.app_id, canonical)
    if app_id is None:
        raise Rejected(404, "unknown client ID")
    if not is_valid_env(env):
        raise Rejected(422, [{"loc": ["path", "env"], "msg": ENV_RULE, "type": "env"}])
    return writer, app_id


async def _body(request: Request) -> bytes:
    settings: Settings = request.app.state.settings
    try:
        return await read_body(request, settings.max_body_bytes)
    except BodyTooLarge as exc:
        raise Rejected(413, str(exc)) from None


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(without_nul(body))
    except ValidationError as exc:
        raise Rejected(422, _errors(exc, ("body",))) from None


def _window_error(exc: OutOfWindow) -> Rejected:
    return Rejected(422, [{"loc": list(exc.loc), "msg": exc.message, "type": "timestamp"}])


async def _handle(handler: Callable[[], Any]) -> Response:
    try:
        result = await handler()
    except Rejected as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    except OverBudget as exc:
        return JSONResponse(
            {"detail": str(exc)}, status_code=402, headers={"Retry-After": str(exc.retry_after)}
        )
    except UnknownApp:
        return JSONResponse({"detail": "unknown client ID"}, status_code=404)
    return JSONResponse({"status": "ok" if result else "duplicate"}, status_code=202)


@router.post("/v2/{client_id}/{env}/startup")
async def startup(client_id: str, env: str, request: Request) -> Response:
    async def handle() -> bool:
        writer, app_id = await _target(request, client_id, env)
        payload = _parse(Startup, await _body(request))
        return await _in_thread(request, writer.store, app_id, env, translate.startup(payload))

    return await _handle(handle)


@router.post("/v2/{client_id}/{env}/sync")
async def sync(client_id: str, env: str, request: Request) -> Response:
    async def handle() -> bool:
        writer, app_id = await _target(request, client_id, env)
        body = await _body(request)
        # Parsing 200 entries is a few milliseconds of CPU: keep it off the event loop too.
        return await _in_thread(request, _store_sync, writer, app_id, env, body)

    return await _handle(handle)


# The route `sync` is declared on, matched as Starlette matches it (path params are [^/]+).
_SYNC_ROUTE = compile_path("/v2/{client_id}/{env}/sync")[0]


class SyncShortcut:
    """ASGI middleware: POST /v2/{client_id}/{env}/sync goes straight to `sync`, past FastAPI's routing.

    Syncs are most of the hub's requests, and FastAPI's route matching (every route of the hub and the
    dashboard), dependency solving and exception layers cost more per sync than reading its body. The
    handler and its answers are the same as through the router; every other request, any other method
    on this path included, goes on to the app. Installed inside the middlewares that add headers,
    compress and turn exceptions into 500s (app.py), so a sync's response passes through them as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _SYNC_ROUTE.match(get_route_path(scope))
            if match is not None:
                response = await sync(match["client_id"], match["env"], Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _store_sync(writer: Writer, app_id: int, env: str, body: bytes) -> bool:
    payload = _parse(Sync, body)
    try:
        times.check_sync(payload, Window(writer.clock()))
    except OutOfWindow as exc:
        raise _window_error(exc) from None
    return writer.store(app_id, env, translate.sync(payload))


@router.post("/v2/{client_id}/{env}/log")
async def request_log(client_id: str, env: str, request: Request) -> Response:
    async def handle() -> bool:
        writer, app_id = await _target(request, client_id, env)
        try:
            file_uuid = canonical_uuid(request.query_params.get("uuid", ""))
        except ValueError:
            raise Rejected(
                422, [{"loc": ["query", "uuid"], "msg": "a UUID is required", "type": "uuid"}]
            ) from None
        body = await _body(request)
        settings: Settings = request.app.state.settings
        return await _in_thread(request, _store_log, writer, app_id, env, file_uuid, body, settings)

    return await _handle(handle)


def _store_log(
    writer: Writer, app_id: int, env: str, file_uuid: str, body: bytes, settings: Settings
) -> bool:
    budget = LogBudget(settings.log_budget_bytes, settings.log_budget_seconds)
    window = Window(writer.clock())
    return writer.store_parts(
        app_id,
        env,
        "log",
        file_uuid,
        lambda: _log_parts(file_uuid, body, settings.max_log_bytes, window),
        budget,
    )


def _log_parts(file_uuid: str, body: bytes, limit: int, window: Window) -> Iterator[tuple[Batch, int]]:
    """The file's lines as batches of at most PART_LINES lines, with the bytes of each, as it inflates."""
    lines: list[RequestLogLine] = []
    size = 0
    try:
        for number, raw in split_lines(gunzip_pieces(body, limit), MAX_LINE_BYTES):
            if not raw.strip():
                continue
            loc = ("body", f"line {number}")
            try:
                line = RequestLogLine.model_validate_json(without_nul(raw))
            except ValidationError as exc:
                raise Rejected(422, _errors(exc, loc)) from None
            times.check_log_line(line, window, loc)
            lines.append(line)
            size += len(raw)
            if len(lines) >= PART_LINES or size >= PART_BYTES:
                yield translate.request_log(file_uuid, lines), size
                lines, size = [], 0
    except BodyTooLarge as exc:
        raise Rejected(413, str(exc)) from None
    except CorruptGzip as exc:
        raise Rejected(422, [{"loc": ["body"], "msg": str(exc), "type": "gzip"}]) from None
    except LineTooLong as exc:
        raise Rejected(
            422, [{"loc": ["body", f"line {exc.number}"], "msg": str(exc), "type": "line"}]
        ) from None
    except OutOfWindow as exc:
        raise _window_error(exc) from None
    yield translate.request_log(file_uuid, lines), size
