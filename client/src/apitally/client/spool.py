"""Gzip files of NDJSON request logs in the temp folder, one per upload."""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
import uuid


class LogFile:
    """One gzip file of request-log lines; its `uuid` is the `?uuid=` of its upload."""

    def __init__(self) -> None:
        self.uuid = str(uuid.uuid4())
        fd, self.path = tempfile.mkstemp(prefix="apitally-", suffix=".gz")
        self._raw = os.fdopen(fd, "wb")
        self._gzip: gzip.GzipFile | None = gzip.GzipFile(
            filename=os.path.basename(self.path)[:-3], mode="wb", fileobj=self._raw, compresslevel=1
        )
        self.lines = 0

    @property
    def size(self) -> int:
        """Compressed bytes written so far."""
        return self._raw.tell()

    def write(self, line: bytes) -> None:
        self.write_lines([line])

    def write_lines(self, lines: list[bytes]) -> None:
        """Append lines (without their newline), in one call to the compressor."""
        assert self._gzip is not None
        lines.append(b"")
        self._gzip.write(b"\n".join(lines))
        lines.pop()
        self.lines += len(lines)

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
            self._raw.close()
            self._gzip = None

    def read(self) -> bytes:
        self.close()
        with open(self.path, "rb") as f:
            return f.read()

    def delete(self) -> None:
        self.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def temp_dir_writable() -> bool:
    try:
        with tempfile.TemporaryFile():
            return True
    except OSError:
        return False
