"""Hostile tenants (issue 10): each case in CASES (or those named in BENCH_HOSTILE, comma-separated) in turn.

"cardinality": a 100,000-consumer app while another app's pages keep their time (bench._hostile_cardinality).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from bench import _hostile_cardinality

CASES: dict[str, Callable[[], bool]] = {
    "cardinality": _hostile_cardinality.run,
}


def main() -> int:
    wanted = [n for n in os.environ.get("BENCH_HOSTILE", "").split(",") if n] or list(CASES)
    ok = True
    for name in wanted:
        print(f"--- hostile: {name}", flush=True)
        ok &= CASES[name]()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
