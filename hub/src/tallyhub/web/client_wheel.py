"""The wheel of the hub's own `apitally` client, which GET /client/<file> serves to pip.

A built hub ships it in its own wheel (hub/hatch_build.py puts it in `client_dist/`). An editable
install from a checkout has none: the wheel is built from the checkout's client/ folder with pip,
once per state of its sources, into client/dist/hub-<digest>/ (shared by every hub process).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

NAME = "apitally"
PACKAGED = Path(__file__).resolve().parent / "client_dist"
CHECKOUT_CLIENT = Path(__file__).resolve().parents[4] / "client"
BUILD_TIMEOUT_SECONDS = 300
# A failed build is not retried on every request (the URL needs no sign-in), only after this long.
RETRY_AFTER_SECONDS = 60
log = logging.getLogger("tallyhub.web.client_wheel")


def wheel_filename(version: str) -> str:
    """The file name pip expects of the pure-Python wheel of `apitally` at `version`."""
    return f"{NAME}-{version}-py3-none-any.whl"


@dataclasses.dataclass(frozen=True)
class Wheel:
    filename: str
    content: bytes

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.content).hexdigest() + '"'


class WheelUnavailable(Exception):
    """No wheel to serve; the message says why and what to do."""


class ClientWheel:
    """Finds (or builds) the client's wheel once per process and keeps it in memory (~100 KB)."""

    def __init__(self, packaged: Path = PACKAGED, checkout_client: Path = CHECKOUT_CLIENT) -> None:
        self.packaged = packaged
        self.checkout_client = checkout_client
        self._lock = threading.Lock()
        self._wheel: Wheel | None = None
        self._failure: tuple[WheelUnavailable, float] | None = None

    def filename(self) -> str | None:
        """The wheel's file name, known without building it; None when this hub has no way to get one."""
        shipped = self._shipped()
        if shipped is not None:
            return shipped.name
        if (self.checkout_client / "pyproject.toml").is_file():
            return wheel_filename(self._checkout_version())
        return None

    def get(self) -> Wheel:
        """The wheel; WheelUnavailable when there is none and none can be built."""
        with self._lock:
            if self._wheel is not None:
                return self._wheel
            if self._failure is not None and time.monotonic() - self._failure[1] < RETRY_AFTER_SECONDS:
                raise self._failure[0]
            try:
                path = self._locate()
            except WheelUnavailable as exc:
                self._failure = (exc, time.monotonic())
                raise
            self._wheel = Wheel(path.name, path.read_bytes())
            return self._wheel

    def _shipped(self) -> Path | None:
        found = sorted(self.packaged.glob(wheel_filename("*")))
        return found[-1] if found else None

    def _checkout_version(self) -> str:
        with (self.checkout_client / "pyproject.toml").open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])

    def _locate(self) -> Path:
        shipped = self._shipped()
        if shipped is not None:
            return shipped
        if not (self.checkout_client / "pyproject.toml").is_file():
            raise WheelUnavailable(
                "This hub was installed without the client's wheel and has no client/ folder to build "
                "it from: install the hub from a wheel built in its repository (hub/hatch_build.py adds it)."
            )
        return self._build_from_checkout()

    def _build_from_checkout(self) -> Path:
        filename = wheel_filename(self._checkout_version())
        target = self.checkout_client / "dist" / f"hub-{source_digest(self.checkout_client)}" / filename
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
            command.append("--disable-pip-version-check")
            if importlib.util.find_spec("hatchling") is not None:
                command.append("--no-build-isolation")  # offline and quicker than fetching hatchling
            command += ["--wheel-dir", scratch, str(self.checkout_client)]
            log.info("building the client's wheel: %s", " ".join(command))
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise WheelUnavailable(
                    f"Building the client's wheel from {self.checkout_client} failed: {exc}"
                ) from exc
            built = Path(scratch) / filename
            if done.returncode != 0 or not built.is_file():
                log.error("building the client's wheel failed:\n%s%s", done.stdout, done.stderr)
                raise WheelUnavailable(
                    f"Building the client's wheel from {self.checkout_client} failed (pip exited with "
                    f"{done.returncode}; the hub's log has its output)."
                )
            # Atomic: hub processes building at the same time each rename a whole, identical file.
            os.replace(built, target)
        return target


def source_digest(client: Path) -> str:
    """A digest of what goes into the client's wheel (pyproject.toml and src/), so an edit rebuilds it."""
    digest = hashlib.sha256()
    files = [client / "pyproject.toml", *sorted((client / "src").rglob("*"))]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(client)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
