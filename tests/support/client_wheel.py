"""What client/pyproject.toml says the client's wheel must be, and what a wheel file says it is."""

from __future__ import annotations

import dataclasses
import email.parser
import io
import tomllib
import zipfile

from tests.support.hub_process import REPO


@dataclasses.dataclass(frozen=True)
class WheelMetadata:
    name: str
    version: str
    extras: frozenset[str]
    files: frozenset[str]


def client_project() -> WheelMetadata:
    """Name, version and extras as client/pyproject.toml declares them (no files)."""
    project = tomllib.loads((REPO / "client" / "pyproject.toml").read_text())["project"]
    return WheelMetadata(
        project["name"], project["version"], frozenset(project["optional-dependencies"]), frozenset()
    )


def client_wheel_filename() -> str:
    project = client_project()
    return f"{project.name}-{project.version}-py3-none-any.whl"


def wheel_metadata(content: bytes) -> WheelMetadata:
    """The METADATA of a wheel (name, version, extras) and the files it holds."""
    with zipfile.ZipFile(io.BytesIO(content)) as wheel:
        names = frozenset(wheel.namelist())
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        message = email.parser.Parser().parsestr(wheel.read(metadata).decode())
    return WheelMetadata(
        message["Name"], message["Version"], frozenset(message.get_all("Provides-Extra") or ()), names
    )
