"""A stable instance UUID per process slot (PROTOCOL.md §2A.1, as the official client since 0.23).

Each process locks one slot file, `<tempdir>/apitally/instance_<sha256("client_id:env")[:8]>_<n>.lock`
for n in 0–99, with an exclusive `flock` held for the life of the process, and reads the UUID
stored in it (or stores a new one). A restarted process takes the first free slot again, so a
single-process app keeps its UUID across restarts, and concurrent workers get different ones.
Slot files older than 24 hours, or holding an invalid or duplicate UUID, are deleted first.
When no slot can be locked (no temp folder, no `fcntl`, all slots taken), a random UUID is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import uuid
from pathlib import Path

SLOTS = 100
MAX_SLOT_AGE = 24 * 3600.0


def slot_dir() -> Path:
    return Path(tempfile.gettempdir()) / "apitally"


def _canonical(text: str) -> str | None:
    try:
        return str(uuid.UUID(text.replace("\0", "").strip()))
    except ValueError:
        return None


def _prune(directory: Path, prefix: str) -> None:
    """Delete stale slot files: older than a day, or with an invalid or already seen UUID."""
    seen: set[str] = set()
    now = time.time()
    for path in sorted(directory.glob(f"{prefix}*.lock")):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if now - path.stat().st_mtime > MAX_SLOT_AGE:
                path.unlink()
                continue
            value = _canonical(path.read_text())
            if value is None or value in seen:
                path.unlink()
                continue
            seen.add(value)


def acquire(client_id: str, env: str) -> tuple[str, int | None]:
    """(instance UUID, the descriptor that holds the slot's lock, or None if no slot was locked)."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return str(uuid.uuid4()), None
    prefix = "instance_" + hashlib.sha256(f"{client_id}:{env}".encode()).hexdigest()[:8] + "_"
    directory = slot_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _prune(directory, prefix)
    except OSError:
        return str(uuid.uuid4()), None
    for slot in range(SLOTS):
        try:
            fd = os.open(directory / f"{prefix}{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            value = _canonical(os.pread(fd, 64, 0).decode("ascii", "replace"))
            if value is None:
                value = str(uuid.uuid4())
                os.ftruncate(fd, 0)
                os.pwrite(fd, value.encode(), 0)
            return value, fd
        except OSError:
            os.close(fd)
    return str(uuid.uuid4()), None


def release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
