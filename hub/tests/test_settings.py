"""Settings are data: one table drives env vars, CLI flags and the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from tallyhub.cli import main
from tallyhub.settings import SETTINGS, load_settings, settings_markdown

REPO = Path(__file__).resolve().parents[2]


def test_readme_documents_every_setting() -> None:
    readme = (REPO / "README.md").read_text()
    assert settings_markdown() in readme, "README's settings table is stale: paste `tallyhub settings`"


def test_every_setting_is_a_serve_flag_with_its_help() -> None:
    help_text = CliRunner().invoke(main, ["serve", "--help"], terminal_width=400).output
    for setting in SETTINGS:
        assert f"--{setting.name.replace('_', '-')}" in help_text
        assert setting.env_var in help_text


def test_env_vars_then_overrides() -> None:
    settings = load_settings({"port": 9001}, environ={"TALLYHUB_PORT": "9000", "TALLYHUB_WORKERS": "3"})
    assert (settings.port, settings.workers) == (9001, 3)


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="TALLYHUB_PORT='eighty'"):
        load_settings(environ={"TALLYHUB_PORT": "eighty"})
