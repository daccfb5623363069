"""A user installs the client from a running hub with pip, as its setup page says, in a fresh venv."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.client_wheel import client_project, client_wheel_filename
from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.e2e


EMAIL = "wheel@example.com"
PASSWORD = "correct horse battery"


def _setup_page_install(hub: HubProcess, app_id: int, framework: str) -> str:
    """The install command of the app's setup page, as a signed-in admin of its team sees it."""
    create_user = [sys.executable, "-m", "tallyhub", "users", "create", EMAIL, "--admin", "--password-stdin"]
    subprocess.run(
        [*create_user, "--database-url", hub.database_url],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    with httpx.Client(base_url=hub.url, timeout=30) as browser:
        login = browser.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', login)
        assert csrf
        signed_in = browser.post(
            "/login", data={"csrf_token": csrf.group(1), "email": EMAIL, "password": PASSWORD}
        )
        assert signed_in.status_code == 303, signed_in.text
        page = browser.get(f"/apps/{app_id}/setup", params={"framework": framework}).text
    found = re.search(r'<code id="client-install">([^<]+)</code>', page)
    assert found, page
    return html.unescape(found.group(1))


# Serving a file touches no table: one engine is enough for a test that runs pip twice.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pip_installs_the_client_from_the_hub_and_it_imports(hub: HubProcess, tmp_path: Path) -> None:
    app = hub.create_app("Wheel API", "prod")
    command = _setup_page_install(hub, int(app["id"]), "flask")
    url = f"{hub.url}/client/{client_wheel_filename()}"
    assert command == f'pip install "apitally[flask] @ {url}"'
    requirement = command.removeprefix("pip install ").strip('"')

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # pip fetches Flask, the extra's dependency, from the package index; the client from the hub.
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    probe = (
        "import importlib.metadata, apitally.flask, flask; "
        "print(importlib.metadata.version('apitally'), apitally.flask.__file__, "
        "apitally.flask.ApitallyMiddleware.__name__)"
    )
    shown = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert shown[0] == client_project().version
    assert Path(shown[1]).is_relative_to(venv)  # the installed copy, not the checkout's
    assert shown[2] == "ApitallyMiddleware"
