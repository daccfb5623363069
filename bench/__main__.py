"""Run every benchmark module in bench/ (or those named in BENCH, comma-separated), one process each."""

import os
import pathlib
import subprocess
import sys


def main() -> int:
    here = pathlib.Path(__file__).parent
    names = sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))
    wanted = [n for n in os.environ.get("BENCH", "").split(",") if n]
    failed = 0
    for name in wanted or names:
        print(f"=== bench.{name}", flush=True)
        failed |= subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=here.parent)
    return failed


if __name__ == "__main__":
    sys.exit(main())
