"""Hostile tenants (issue #10): each case puts one team under attack and measures another team's service.

Cases (BENCH_HOSTILE_CASES picks some, comma-separated; default all):
  outbound  one team's 40 hanging health checks and a hanging channel while another team's 10 s check and
            webhook keep their schedule (bench/_hostile_outbound.py)
  cardinality  a 100,000-consumer app while another app's pages keep their time
            (bench/_hostile_cardinality.py)
Each case runs on SQLite, then PostgreSQL when TALLYHUB_TEST_DATABASE_URL is set, prints its figures and
their ratio to the target, and returns whether the target was met.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from bench import _hostile_cardinality, _hostile_outbound

CASES: dict[str, Callable[[], bool]] = {
    "outbound": _hostile_outbound.main,
    "cardinality": _hostile_cardinality.run,
}


def main() -> int:
    wanted = [c for c in os.environ.get("BENCH_HOSTILE_CASES", "").split(",") if c] or list(CASES)
    unknown = sorted(set(wanted) - set(CASES))
    if unknown:
        print(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    ok = True
    for name in wanted:
        print(f"--- hostile.{name}  ({subprocess.check_output(['uptime'], text=True).strip()})", flush=True)
        ok &= CASES[name]()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
