"""CPU and memory of this process, read from the kernel without psutil."""

from __future__ import annotations

import os
import resource
import sys
import time

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def memory_rss() -> int:
    """Resident set size in bytes (current on Linux; the peak elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class ResourceSampler:
    """CPU % since the previous sample (can pass 100 on several cores) and RSS; None on the first call."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None

    def sample(self) -> dict[str, float | int] | None:
        t = os.times()
        cpu, wall = t.user + t.system, time.monotonic()
        last, self._last = self._last, (cpu, wall)
        if last is None:
            return None
        elapsed = wall - last[1]
        percent = 100.0 * (cpu - last[0]) / elapsed if elapsed > 0 else 0.0
        return {"cpu_percent": round(percent, 1), "memory_rss": memory_rss()}

    def reset(self) -> None:
        self._last = None
