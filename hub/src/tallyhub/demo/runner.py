"""Runs the demo: hub + demo login and app + instrumented Flask API + traffic, until Ctrl-C or SIGTERM.

The hub and the API run as child processes in their own sessions, so Ctrl-C reaches only this
process, which then stops them in order: traffic, the API (its client sends a last sync), the hub.
On Linux they also get SIGTERM when this process dies without stopping them (SIGKILL, a crash).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import click
import sqlalchemy as sa

from tallyhub.accounts import teams, users
from tallyhub.demo import traffic
from tallyhub.settings import load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade
from tallyhub.storage.tables import apps

EMAIL = "demo@example.com"
TEAM = "Demo"
APP = "Demo API"
FLASK_API = Path(__file__).with_name("flask_api.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the hub's own listener does: a previous hub's connections in TIME_WAIT don't hold the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def client_python() -> str:
    """A Python with `apitally.flask`: this one (the project's client), else the official client's."""
    try:
        if importlib.util.find_spec("apitally.flask") is not None:
            return sys.executable
    except ModuleNotFoundError:
        pass
    official = os.environ.get("TALLYHUB_OFFICIAL_PYTHON") or str(
        Path(".venv-official/bin/python").absolute()
    )  # not resolve(): the venv is the symlink
    if not Path(official).is_file():
        raise click.ClickException(
            "no Python with apitally.flask: install this project's client with the flask extra, "
            "or set TALLYHUB_OFFICIAL_PYTHON (make setup builds .venv-official)"
        )
    return official


def prepare(database_url: str) -> tuple[str, str]:
    """Migrate; make the demo team, its admin (new password each run) and app; (password, client ID)."""
    db = Database(database_url)
    try:
        upgrade(db)
        password = secrets.token_urlsafe(9)
        with db.write() as conn:
            team = teams.ensure_team(conn, TEAM)
            user = users.user_by_email(conn, EMAIL)
            if user is None:
                user = users.create_user(conn, EMAIL, users.hash_password(password))
            else:
                users.set_password_hash(conn, user.id, users.hash_password(password))
            teams.set_role(conn, user.id, team.id, "admin")
            client_id = conn.execute(
                sa.select(apps.c.client_id).where(apps.c.team_id == team.id, apps.c.name == APP)
            ).scalar()
        if client_id is None:
            client_id = app_store.create_app(db, APP, ("prod",), team_id=team.id).client_id
        return password, str(client_id)
    finally:
        db.dispose()


def wait_for(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    """Until `url` answers 200 while `process` runs (ClickException if it exits or times out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"the {what} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.2)
    raise click.ClickException(f"the {what} did not answer at {url} within {timeout:.0f} s")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _dies_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that has the kernel send the child SIGTERM when this process dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl: nobody will send the signal
            os._exit(1)

    return arm


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(port: int, data_dir: str | None) -> None:
    """Start everything, print the URL and login, and run until Ctrl-C or SIGTERM (or a child exits)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C: in order, cleaned up
    if not port_is_free(port):
        raise click.ClickException(f"port {port} is in use: choose another with --port")
    temporary = data_dir is None
    folder: Path | None = None
    children: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    try:
        # Inside the try, from the temporary folder on: a Ctrl-C or SIGTERM at any moment of start-up
        # stops cleanly and removes the folder.
        folder = Path(data_dir or tempfile.mkdtemp(prefix="tallyhub-demo-")).resolve()
        hub_url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYHUB_")}
        hub_env = env | {
            "TALLYHUB_DATA_DIR": str(folder),
            "TALLYHUB_PORT": str(port),
            "TALLYHUB_LOG_LEVEL": "warning",
        }
        folder.mkdir(parents=True, exist_ok=True)
        settings = load_settings({"data_dir": str(folder), "port": port, "database_url": ""}, environ={})
        password, client_id = prepare(settings.resolved_database_url)
        hub = subprocess.Popen(
            [sys.executable, "-m", "tallyhub", "serve"],
            env=hub_env,
            start_new_session=True,
            preexec_fn=_dies_with_parent(),
        )
        children.append(hub)
        wait_for(f"{hub_url}/login", hub, "hub")
        api_port = free_port()
        api_env = env | {
            "DEMO_CLIENT_ID": client_id,
            "DEMO_PORT": str(api_port),
            "APITALLY_HUB_BASE_URL": hub_url,
            "TMPDIR": str(folder),  # the client's instance lock files
        }
        api = subprocess.Popen(
            [client_python(), str(FLASK_API)],
            env=api_env,
            start_new_session=True,
            preexec_fn=_dies_with_parent(),
        )
        children.append(api)
        wait_for(f"http://127.0.0.1:{api_port}/items", api, "demo API")
        traffic.run(f"http://127.0.0.1:{api_port}", stop)
        click.echo(
            f"\nTallyhub demo is running.\n\n  Dashboard: {hub_url}/login\n  E-mail:    {EMAIL}\n"
            f"  Password:  {password}\n\n  Demo API:  http://127.0.0.1:{api_port}"
            " (its client syncs every 10 s: first figures within a minute)\n"
            f"  Data:      {folder}\n\nPress Ctrl-C to stop.\n"
        )
        while all(child.poll() is None for child in children):
            stop.wait(0.5)
        raise click.ClickException("a demo process exited unexpectedly")
    except KeyboardInterrupt:
        click.echo("\nStopping the demo…")
    finally:
        # Stopping runs to its end: a second Ctrl-C or SIGTERM would leave children or the folder behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop.set()
        for child in reversed(children):  # the API first: its last sync still reaches the hub
            _stop(child, timeout=15)
        if temporary and folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
