"""Per-request cost of the `apitally` client on a small FastAPI app (driven in-process through its
ASGI interface), against bare FastAPI and the official client 0.25.1 (run from its own virtual
environment): interleaved repetitions, medians printed. The mix is `client_overhead`'s: 1,000
consumers, path parameters, 1 KB JSON bodies echoed, 10 % of requests raising an exception."""

import json
import os
import statistics
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer

from bench.client_overhead import HERE, _Sink, child_env, official_python

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20000"))
REPETITIONS = int(os.environ.get("BENCH_REPETITIONS", "5"))
BARE = "bare FastAPI"


def run(
    python: str, variant: str, hub: str, script: str = "_overhead_asgi_app.py", extra: tuple[str, ...] = ()
) -> dict:
    env = child_env(python, APITALLY_HUB_BASE_URL=hub, PYTHONHASHSEED="0", PYTHONWARNINGS="ignore")
    out = subprocess.run(
        [python, str(HERE / script), variant, str(REQUESTS), *extra],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    measure("_overhead_asgi_app.py", BARE)


def measure(script: str, bare: str, *extra: str) -> None:
    """Run `script` (one process per run: VARIANT REQUESTS then `extra`, one JSON line out) for each
    variant, interleaved, and print the medians and the overhead ratios; `bare` names the
    uninstrumented app."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hub = f"http://127.0.0.1:{server.server_port}"
    ours, official = sys.executable, official_python()
    variants = {
        bare: (ours, "bare"),
        "apitally (this client)": (ours, "client"),
        "apitally 0.25.1 (official)": (official, "client"),
        "this client + request logging": (ours, "client+logging"),
        "official + request logging": (official, "client+logging"),
    }
    results: dict[str, list[dict]] = {name: [] for name in variants}
    for rep in range(REPETITIONS):
        for name, (python, variant) in variants.items():
            results[name].append(run(python, variant, hub, script, extra))
        print(f"repetition {rep + 1}/{REPETITIONS} done", flush=True)
    server.shutdown()

    print(f"\n{REQUESTS} mixed requests per run, {REPETITIONS} interleaved repetitions, medians.")
    print("wall = elapsed time; cpu = CPU time of the process (less disturbed by other load on the machine)")
    print(
        f"{'variant':32} {'wall µs/req':>11} {'overhead':>9} {'cpu µs/req':>11} {'overhead':>9}"
        f" {'RSS MiB':>8}"
    )
    med = {
        m: {name: statistics.median(r[m] for r in runs) for name, runs in results.items()}
        for m in ("us", "cpu_us", "rss")
    }
    for name in variants:
        wall, cpu = med["us"][name], med["cpu_us"][name]
        wall_over, cpu_over, mib = wall - med["us"][bare], cpu - med["cpu_us"][bare], med["rss"][name] / 2**20
        print(f"{name:32} {wall:11.1f} {wall_over:9.1f} {cpu:11.1f} {cpu_over:9.1f} {mib:8.1f}")

    def ratio(metric: str, ours: str, theirs: str) -> float:
        base = med[metric][bare]
        return (med[metric][ours] - base) / max(med[metric][theirs] - base, 1e-9)

    for label, mine, theirs, target in (
        ("default settings", "apitally (this client)", "apitally 0.25.1 (official)", 0.1),
        ("request logging", "this client + request logging", "official + request logging", 0.2),
    ):
        wall, cpu = ratio("us", mine, theirs), ratio("cpu_us", mine, theirs)
        print(f"overhead ratio this/official, {label}: wall {wall:.3f}, cpu {cpu:.3f} (target <= {target})")


if __name__ == "__main__":
    main()
