"""Reading request bodies within a byte limit, and gunzipping request-log files within another."""

from __future__ import annotations

import re
import zlib

from fastapi import Request


class BodyTooLarge(Exception):
    """The body (or what it decompresses to) exceeds its limit."""

    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(f"{what} larger than {limit} bytes")
        self.limit = limit


class CorruptGzip(Exception):
    """The body is not a complete gzip file."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes whether or not a Content-Length was sent."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    # Chunked uploads (the async Python client's /log) have no Content-Length: count as they stream.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip file (one or more members) to at most `limit` bytes, never inflating past it."""
    out: list[bytes] = []
    size = 0
    rest = data
    if not rest:
        raise CorruptGzip("empty body, expected a gzip file")
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = rest
        while pending and not inflater.eof:
            try:
                piece = inflater.decompress(pending, limit + 1 - size)
            except zlib.error as exc:
                raise CorruptGzip(f"not a valid gzip file: {exc}") from None
            size += len(piece)
            if size > limit:
                raise BodyTooLarge(limit, "decompressed request log")
            out.append(piece)
            pending = inflater.unconsumed_tail  # non-empty only when the output limit stopped it
        if not inflater.eof:
            raise CorruptGzip("truncated gzip file")
        rest = inflater.unused_data
        # Trailing zero padding after the last member is allowed, as gzip(1) allows it.
        if rest and not rest.strip(b"\x00"):
            break
    return b"".join(out)


# A JSON \u0000 escape preceded by an even number of backslashes (so it is an escape, not text).
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def without_nul(json_text: bytes) -> bytes:
    """JSON text with every NUL character replaced by U+FFFD: PostgreSQL text cannot hold NUL."""
    if b"\\u0000" not in json_text:
        return json_text
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", json_text)
