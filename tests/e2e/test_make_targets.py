"""What the Makefile's targets install on a fresh clone: `make run` and `make demo` only what they run
(the test and lint toolchain cost a first run 98 s), `make test` everything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _planned(target: str, tmp_path: Path) -> str:
    """The commands `make TARGET` would run on a clone with no virtual environment yet (a dry run)."""
    done = subprocess.run(
        [
            "make",
            "-n",
            target,
            f"VENV={tmp_path / 'venv'}",
            f"OFFICIAL={tmp_path / 'official'}",
            f"OFFICIAL_OTLP={tmp_path / 'official-otlp'}",
            f"OTEL={tmp_path / 'otel'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize("target", ["run", "demo"])
def test_run_and_demo_install_no_test_toolchain(target: str, tmp_path: Path) -> None:
    planned = _planned(target, tmp_path)
    assert './hub[postgres]"' in planned
    assert "requirements-dev.txt" not in planned
    assert str(tmp_path / "official") not in planned  # the official clients' venvs are the tests'
    assert str(tmp_path / "otel") not in planned
    assert ("./client[flask]" in planned) == (target == "demo")


def test_test_installs_the_toolchain(tmp_path: Path) -> None:
    planned = _planned("test", tmp_path)
    assert "requirements-dev.txt" in planned and str(tmp_path / "official") in planned
    # The OTLP e2e senders: apitally 1.0 (Flask, FastAPI) and the plain OpenTelemetry SDK on Flask.
    assert '"apitally[flask]==1.0.0" "apitally[fastapi]==1.0.0" uvicorn' in planned
    assert str(tmp_path / "official-otlp") in planned and str(tmp_path / "otel") in planned
    assert "opentelemetry-instrumentation-flask" in planned
