"""The hub's wheel (hub/pyproject.toml, hatch_build.py) ships the client's wheel that GET /client/ serves."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

from tallyhub.web.client_wheel import ClientWheel

from tests.support.client_wheel import client_project, client_wheel_filename, wheel_metadata
from tests.support.hub_process import REPO


def test_the_hubs_wheel_ships_the_clients_wheel(tmp_path: Path) -> None:
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet"]
    subprocess.run(
        [*pip_wheel, "--wheel-dir", str(tmp_path), str(REPO / "hub")],
        check=True,
        capture_output=True,
    )
    [hub_wheel] = tmp_path.glob("tallyhub-*.whl")
    inner = f"tallyhub/web/client_dist/{client_wheel_filename()}"
    with zipfile.ZipFile(hub_wheel) as wheel:
        shipped = [n for n in wheel.namelist() if n.startswith("tallyhub/web/client_dist/")]
        assert shipped == [inner]
        content = wheel.read(inner)
        wheel.extractall(tmp_path / "installed", members=[inner])
    metadata = wheel_metadata(content)
    declared = client_project()
    assert (metadata.name, metadata.version, metadata.extras) == (
        declared.name,
        declared.version,
        declared.extras,
    )
    assert "apitally/flask.py" in metadata.files
    # What an installed hub finds there, with no checkout beside it.
    found = ClientWheel(tmp_path / "installed/tallyhub/web/client_dist", checkout_client=tmp_path / "none")
    assert found.filename() == client_wheel_filename()
    assert found.get().content == content
    assert zipfile.ZipFile(io.BytesIO(content)).testzip() is None
