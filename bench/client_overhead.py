"""Per-request cost of the `apitally` client on Flask apps, against bare Flask and the official client
0.25.1 (run from its own virtual environment): five interleaved repetitions, medians printed.

Two mixes, each with the same app for every variant: `small` (three routes, string consumers) and
`realistic` (issue 13's: 1,000 consumers with names and groups, 10 % exceptions, path parameters,
JSON bodies; see `_overhead_mix.py`). BENCH_MIXES=small or =realistic runs one of them.

The small mix also runs an app that logs and traces (two log records and a span per request; see
`_overhead_app.py`): bare, and with request logging plus capture_logs and capture_traces, for this
client and the official one; its overhead is against its own bare run."""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "50000"))
REPETITIONS = int(os.environ.get("BENCH_REPETITIONS", "5"))
MIXES = [m for m in os.environ.get("BENCH_MIXES", "small,realistic").split(",") if m]
HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent


class _Sink(BaseHTTPRequestHandler):
    """A hub that accepts everything, so that both clients sync as they would in production."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        elif self.headers.get("Transfer-Encoding") == "chunked":
            while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
                self.rfile.read(size + 2)
            self.rfile.readline()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def official_python() -> str:
    return os.environ.get("TALLYHUB_OFFICIAL_PYTHON") or str(ROOT / ".venv-official" / "bin" / "python")


def child_env(python: str, **extra: str) -> dict[str, str]:
    """The environment of a run by `python`: ours imports this checkout's client (client/src first on
    PYTHONPATH, whatever the virtual environment has installed); the official interpreter gets a
    PYTHONPATH without any folder holding an `apitally` package, or it would import ours and
    measure our client twice (a PYTHONPATH with client/src, as worktrees use, did that)."""
    env = dict(os.environ, **extra)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if python == official_python():
        paths = [p for p in paths if not (pathlib.Path(p) / "apitally").is_dir()]
    else:
        paths = [str(ROOT / "client" / "src"), *paths]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run(python: str, variant: str, mix: str, hub: str) -> dict:
    env = child_env(python, APITALLY_HUB_BASE_URL=hub, PYTHONHASHSEED="0")
    out = subprocess.run(
        [python, str(HERE / "_overhead_app.py"), variant, str(REQUESTS), mix],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hub = f"http://127.0.0.1:{server.server_port}"
    ours, official = sys.executable, official_python()
    variants = {
        "bare Flask": (ours, "bare"),
        "apitally (this client)": (ours, "client"),
        "apitally 0.25.1 (official)": (official, "client"),
        "this client + request logging": (ours, "client+logging"),
        "official + request logging": (official, "client+logging"),
        "bare Flask, app logs+spans": (ours, "bare+capture"),
        "this client + logs/traces": (ours, "client+capture"),
        "official + logs/traces": (official, "client+capture"),
    }
    # Every run of a repetition (all variants of all mixes) before the next repetition: a change in
    # the machine's load meanwhile touches every variant alike.
    runs = [(mix, name) for mix in MIXES for name in variants if mix == "small" or name not in CAPTURE]
    results: dict[tuple[str, str], list[dict]] = {run_key: [] for run_key in runs}
    for rep in range(REPETITIONS):
        for mix, name in runs:
            python, variant = variants[name]
            results[mix, name].append(run(python, variant, mix, hub))
        print(f"repetition {rep + 1}/{REPETITIONS} done", flush=True)
    server.shutdown()
    print(f"\n{REQUESTS} requests per run, {REPETITIONS} interleaved repetitions, medians.")
    print("wall = elapsed time; cpu = CPU time of the process (less disturbed by other load on the machine)")
    for mix in MIXES:
        report(mix, {name: results[mix, name] for name in variants if (mix, name) in results})


# The variants of the app that logs and traces (small mix only), and their baseline.
CAPTURE = ("bare Flask, app logs+spans", "this client + logs/traces", "official + logs/traces")


def report(mix: str, results: dict[str, list[dict]]) -> None:
    bare = "bare Flask"
    print(f"\nmix: {mix}")
    print(
        f"{'variant':32} {'wall µs/req':>11} {'overhead':>9} {'cpu µs/req':>11} {'overhead':>9}"
        f" {'RSS MiB':>8}"
    )
    med = {
        m: {name: statistics.median(r[m] for r in runs) for name, runs in results.items()}
        for m in ("us", "cpu_us", "rss")
    }

    def baseline(name: str) -> str:
        return CAPTURE[0] if name in CAPTURE else bare

    for name in results:
        wall, cpu, base = med["us"][name], med["cpu_us"][name], baseline(name)
        wall_over, cpu_over, mib = wall - med["us"][base], cpu - med["cpu_us"][base], med["rss"][name] / 2**20
        print(f"{name:32} {wall:11.1f} {wall_over:9.1f} {cpu:11.1f} {cpu_over:9.1f} {mib:8.1f}")

    def ratio(metric: str, ours: str, theirs: str) -> float:
        base = med[metric][baseline(ours)]
        return (med[metric][ours] - base) / max(med[metric][theirs] - base, 1e-9)

    for label, ours, theirs, target in (
        ("default settings", "apitally (this client)", "apitally 0.25.1 (official)", 0.1),
        ("request logging", "this client + request logging", "official + request logging", 0.2),
        ("logging + capture_logs + capture_traces", CAPTURE[1], CAPTURE[2], None),
    ):
        if ours not in results:
            continue
        wall, cpu = ratio("us", ours, theirs), ratio("cpu_us", ours, theirs)
        print(f"overhead ratio this/official, {mix} mix, {label}: wall {wall:.3f}, cpu {cpu:.3f}", end="")
        print(f" (target <= {target})" if target is not None else "")
    mem_ok = med["rss"]["apitally (this client)"] <= med["rss"]["apitally 0.25.1 (official)"]
    print(f"RSS after the run, this client <= official (default settings): {mem_ok}")


if __name__ == "__main__":
    main()
