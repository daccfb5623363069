"""Pre-forking servers deliver: gunicorn --preload and uWSGI without --enable-threads/--lazy-apps.

The official client sends nothing from such workers (its thread lives in the master only); this
client adopts the fork in each worker (at-fork hook, or on its first request under uWSGI, which
forks from C) and starts a worker thread there.
"""

from __future__ import annotations

import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

TRAFFIC = [("/items/1", 200)] * 12 + [("/named/profile", 200)] * 5 + [("/boom", 500)] * 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


def send_traffic(port: int) -> None:
    for path, status in TRAFFIC:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                assert response.status == status
                response.read()
        except urllib.error.HTTPError as error:
            assert error.code == status
            error.close()


def check_delivery(hub: Any) -> None:
    assert hub.count(path="/items/<int:item_id>", status_code=200, consumer="127.0.0.1") == 12
    assert hub.count(path="/named/profile", consumer="john.doe@example.com") == 5
    assert sum(e["error_count"] for s in hub.bodies("sync") for e in s["server_errors"]) == 3
    assert {"identifier": "john.doe@example.com", "name": "John Doe", "group": "Customers"} in [
        c for s in hub.bodies("sync") for c in s["consumers"]
    ]


def delivered_all(hub: Any) -> bool:
    try:
        check_delivery(hub)
    except AssertionError:
        return False
    return True


def run_server(
    command: list[str],
    port: int,
    env: dict[str, str],
    hub: Any,
    stop: Callable[[subprocess.Popen[bytes]], None],
) -> None:
    log = pathlib.Path(env["SERVER_LOG"])
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(port, process)
        send_traffic(port)
        # Delivered by the workers' own threads while the server runs (each worker's first sync comes
        # ~1 s after its first request, so the two workers' parts of the traffic may arrive apart).
        delivered = hub.wait_for(lambda: delivered_all(hub), timeout=20)
        assert delivered, log.read_text(errors="replace")[-3000:]
        check_delivery(hub)
        stop(process)
        assert process.wait(timeout=30) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    check_delivery(hub)  # and nothing counted twice by the exit flush
    instances = {s["instance_uuid"] for s in hub.bodies("sync") if s["requests"]}
    assert 1 <= len(instances) <= 2


def test_gunicorn_preload(
    hub: Any, subprocess_env: dict[str, str], venv_bin: pathlib.Path, tmp_path: Any
) -> None:
    port = free_port()
    subprocess_env["SERVER_LOG"] = str(tmp_path / "gunicorn.log")
    command = [str(venv_bin / "gunicorn"), "--preload", "-w", "2", "-b", f"127.0.0.1:{port}", "seed_app:app"]
    run_server(command, port, subprocess_env, hub, lambda p: p.send_signal(signal.SIGTERM))


def test_uwsgi_default_options(
    hub: Any, subprocess_env: dict[str, str], venv_bin: pathlib.Path, tmp_path: Any
) -> None:
    port = free_port()
    fifo = tmp_path / "master.fifo"
    subprocess_env["SERVER_LOG"] = str(tmp_path / "uwsgi.log")
    command = [
        str(venv_bin / "uwsgi"),
        "--master",
        "--processes",
        "2",
        "--http-socket",
        f"127.0.0.1:{port}",
        "--module",
        "seed_app:app",
        "--master-fifo",
        str(fifo),
    ]

    def graceful_shutdown(process: subprocess.Popen[bytes]) -> None:
        with open(fifo, "w") as f:  # uWSGI's graceful shutdown command
            f.write("q")

    run_server(command, port, subprocess_env, hub, graceful_shutdown)
    assert "enable-threads" not in " ".join(command) and "lazy" not in " ".join(command)
