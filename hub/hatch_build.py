"""Hatch build hook: the hub's wheel ships the wheel of its own client (../client), which the hub
serves at GET /client/<file> (tallyhub/web/client_wheel.py) for `pip install "apitally[…] @ URL"`.

An editable install ships none: the hub builds it from the checkout on demand, so it follows edits.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.builders.wheel import WheelBuilder

DESTINATION = "tallyhub/web/client_dist"


class ClientWheelHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        client = Path(self.root).parent / "client"
        if not (client / "pyproject.toml").is_file():
            # E.g. a wheel built from an sdist, away from the repository: the hub answers 503 at /client/.
            self.app.display_warning(f"no client at {client}: the hub's wheel ships no client wheel")
            return
        self._scratch = tempfile.mkdtemp(prefix="tallyhub-client-wheel-")
        [wheel] = WheelBuilder(str(client)).build(directory=self._scratch, versions=["standard"])
        build_data["force_include"][wheel] = f"{DESTINATION}/{Path(wheel).name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
