"""The client's version and the package versions reported at startup."""

from __future__ import annotations

import contextlib
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("apitally")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

USER_AGENT = f"apitally-tallyhub/{__version__} (python)"

_SERVERS = ("uvicorn", "hypercorn", "daphne", "gunicorn", "uwsgi", "pyuwsgi")


def package_versions(*frameworks: str, app_version: str | None = None) -> dict[str, str]:
    """`versions` of the startup payload: python, apitally, installed frameworks and servers, and `app`."""
    info = sys.version_info
    versions = {"python": f"{info.major}.{info.minor}.{info.micro}", "apitally": __version__}
    for name in (*frameworks, *_SERVERS):
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(name)
    if "pyuwsgi" in versions:  # the PyPI wheel of uWSGI is the same server under another name
        versions.setdefault("uwsgi", versions.pop("pyuwsgi"))
    if app_version:
        versions["app"] = str(app_version)
    return versions
