"""`tallyhub demo` (what `make demo` runs): a newcomer signs in with the printed login and sees live data
within a minute; Ctrl-C stops the hub and the demo API and removes the demo's temporary data."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.hub_process import free_port

pytestmark = pytest.mark.e2e


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """What the process printed up to the line with `marker` (read by a thread, with a timeout)."""
    import threading

    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if marker in line:
                done.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(timeout), "".join(lines)
    return "".join(lines)


def test_demo_shows_live_data_and_stops_cleanly_on_ctrl_c() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYHUB_")}
    env["TALLYHUB_OFFICIAL_PYTHON"] = os.environ.get("TALLYHUB_OFFICIAL_PYTHON", "")
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "tallyhub", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        banner = _read_until(process, "Press Ctrl-C", timeout=60)
        email = re.search(r"E-mail:\s+(\S+)", banner)
        password = re.search(r"Password:\s+(\S+)", banner)
        folder = re.search(r"Data:\s+(\S+)", banner)
        assert email and password and folder and f"http://127.0.0.1:{port}/login" in banner, banner
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            login = client.get("/login")
            token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', login.text)
            assert token
            signed_in = client.post(
                "/login",
                data={"email": email.group(1), "password": password.group(1), "csrf_token": token.group(1)},
            )
            assert signed_in.status_code == 303
            requests = "0"
            while time.monotonic() - began < 60 and requests == "0":
                time.sleep(2)
                overview = client.get("/apps?period=1h").text
                requests = re.findall(r'<td class="num">([^<]*)</td>', overview)[0]
            assert requests != "0", "no data within a minute"
            app_path = re.search(r'href="(/apps/\d+)[?"]', overview)
            assert app_path
            errors = client.get(f"{app_path.group(1)}/errors?period=1h").text
            consumers = client.get(f"{app_path.group(1)}/consumers?period=1h").text
        assert "Partners" in consumers or "Mobile" in consumers or "Internal" in consumers
        assert "<h2>Server errors</h2>" in errors
        process.send_signal(signal.SIGINT)
        stopping = time.monotonic()
        assert process.wait(30) == 0
        assert time.monotonic() - stopping < 10  # no child needed the 15 s kill timeout
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
        assert not Path(folder.group(1)).exists()
    finally:
        if process.poll() is None:
            # Ctrl-C first: the hub and the API run in sessions of their own and outlive a SIGKILL.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _start_demo(port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYHUB_")}
    env["TALLYHUB_OFFICIAL_PYTHON"] = os.environ.get("TALLYHUB_OFFICIAL_PYTHON", "")
    return subprocess.Popen(
        [sys.executable, "-m", "tallyhub", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def test_demo_stops_cleanly_on_sigterm_and_starts_again_on_the_same_port_at_once() -> None:
    """SIGTERM (what a service manager or `kill` sends) stops the demo as Ctrl-C does; the hub's closed
    connections, left in TIME_WAIT on its port, don't keep the next demo from starting there."""
    port = free_port()
    first = _start_demo(port)
    second: subprocess.Popen[str] | None = None
    try:
        banner = _read_until(first, "Press Ctrl-C", timeout=60)
        folder = re.search(r"Data:\s+(\S+)", banner)
        assert folder, banner
        for _ in range(3):  # connections the hub closes when it stops: TIME_WAIT on its side
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                assert client.get("/login").status_code == 200
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        assert first.stdout is not None
        rest = first.stdout.read()
        assert "Stopping the demo" in rest and "Traceback" not in rest, rest
        assert not Path(folder.group(1)).exists()

        second = _start_demo(port)
        banner = _read_until(second, "Press Ctrl-C", timeout=60)
        assert f"http://127.0.0.1:{port}/login" in banner, banner
    finally:
        for process in (first, second):
            if process is None:
                continue
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        # A zombie (dead, not yet reaped by init) counts as gone.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_demo_children_die_with_it_on_sigkill() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYHUB_")}
    env["TALLYHUB_OFFICIAL_PYTHON"] = os.environ.get("TALLYHUB_OFFICIAL_PYTHON", "")
    process = subprocess.Popen(
        [sys.executable, "-m", "tallyhub", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    children: list[int] = []
    folder = None
    try:
        banner = _read_until(process, "Press Ctrl-C", timeout=60)
        folder = re.search(r"Data:\s+(\S+)", banner)
        children = _children(process.pid)
        assert len(children) == 2, children  # the hub and the demo API
        process.kill()
        process.wait()
        deadline = time.monotonic() + 20
        while any(map(_alive, children)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(map(_alive, children)), [c for c in children if _alive(c)]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for child in children:
            if _alive(child):
                os.kill(child, signal.SIGKILL)
        if folder is not None:  # nobody was left to remove the demo's temporary data
            shutil.rmtree(folder.group(1), ignore_errors=True)
        if process.stdout is not None:
            process.stdout.close()


def test_demo_stops_cleanly_on_sigterm_while_it_is_still_starting(tmp_path: Path) -> None:
    """SIGTERM before the banner (while the demo migrates its database or waits for the hub): no
    traceback, exit 0, and the temporary folder is gone (it is made under TMPDIR, here tmp_path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYHUB_")}
    env["TALLYHUB_OFFICIAL_PYTHON"] = os.environ.get("TALLYHUB_OFFICIAL_PYTHON", "")
    env["TMPDIR"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "tallyhub", "demo", "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("tallyhub-demo-*")) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert list(tmp_path.glob("tallyhub-demo-*")), "the demo made no temporary folder"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert process.stdout is not None
        printed = process.stdout.read()
        assert "Traceback" not in printed and "Press Ctrl-C" not in printed, printed
        assert list(tmp_path.glob("tallyhub-demo-*")) == []
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
