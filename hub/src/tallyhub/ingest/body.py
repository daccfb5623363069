"""Reading request bodies within a byte limit, and gunzipping request-log files within another, in pieces."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator

from fastapi import Request


class BodyTooLarge(Exception):
    """The body (or what it decompresses to) exceeds its limit."""

    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(f"{what} larger than {limit} bytes")
        self.limit = limit


class CorruptGzip(Exception):
    """The body is not a complete gzip file."""


class LineTooLong(Exception):
    """A line of a request-log file is longer than any client writes."""

    def __init__(self, number: int, limit: int) -> None:
        super().__init__(f"line {number} is longer than {limit} bytes")
        self.number = number


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


PIECE_BYTES = 1 << 16  # what one step of inflating yields: the memory a file costs beyond its lines


def gunzip_pieces(data: bytes, limit: int, piece: int = PIECE_BYTES) -> Iterator[bytes]:
    """A gzip file (one or more members) decompressed in pieces of at most `piece` bytes.

    BodyTooLarge as soon as more than `limit` bytes came out in all: the inflated file is never held.
    """
    size = 0
    rest = data
    if not rest:
        raise CorruptGzip("empty body, expected a gzip file")
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = rest
        while not inflater.eof:
            room = min(piece, limit + 1 - size)
            try:
                out = inflater.decompress(pending, room)
            except zlib.error as exc:
                raise CorruptGzip(f"not a valid gzip file: {exc}") from None
            size += len(out)
            if size > limit:
                raise BodyTooLarge(limit, "decompressed request log")
            if out:
                yield out
            pending = inflater.unconsumed_tail  # non-empty only when the output limit stopped it
            if not pending and len(out) < room:
                break  # all input consumed and flushed
        if not inflater.eof:
            raise CorruptGzip("truncated gzip file")
        rest = inflater.unused_data
        # Trailing zero padding after the last member is allowed, as gzip(1) allows it.
        if rest and not rest.strip(b"\x00"):
            break


def split_lines(pieces: Iterable[bytes], max_line: int) -> Iterator[tuple[int, bytes]]:
    """(number, line) for each line of the text the pieces make, as they come; LineTooLong past `max_line`."""
    fragments: list[bytes] = []
    held = 0
    number = 0
    for piece in pieces:
        start = 0
        while (end := piece.find(b"\n", start)) != -1:
            number += 1
            if held + end - start > max_line:
                raise LineTooLong(number, max_line)
            fragments.append(piece[start:end])
            yield number, b"".join(fragments)
            fragments.clear()
            held = 0
            start = end + 1
        if start < len(piece):
            fragments.append(piece[start:])
            held += len(piece) - start
            if held > max_line:
                raise LineTooLong(number + 1, max_line)
    if fragments:
        yield number + 1, b"".join(fragments)


# A JSON \u0000 escape preceded by an even number of backslashes (so it is an escape, not text).
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def without_nul(json_text: bytes) -> bytes:
    """JSON text with every NUL character replaced by U+FFFD: PostgreSQL text cannot hold NUL."""
    if b"\\u0000" not in json_text:
        return json_text
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", json_text)
