"""Debian's chromium driven by Playwright, as the dashboard's browser tests launch it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless chromium (fails the test when `make setup` did not install it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def sign_in(page: Any, hub_url: str, email: str, password: str) -> None:
    """Sign in through the login form and wait for the apps list."""
    page.goto(f"{hub_url}/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.click('main button[type="submit"]')
    page.wait_for_url(f"{hub_url}/apps")


def green_bar_runs(page: Any, chart: str) -> list[int]:
    """Widths in pixels of the runs of the success green that a chart's canvas draws at mid-height.

    Filled bars cross that line once each; a line chart would cross each spike twice, 2 px wide.
    """
    runs: list[int] = page.evaluate(
        """(chart) => {
            const canvas = document.querySelector(chart + ' canvas');
            const y = Math.round(canvas.height * 0.5);
            const row = canvas.getContext('2d').getImageData(0, y, canvas.width, 1).data;
            const near = (i, value) => Math.abs(row[i] - value) < 30;
            const runs = [];
            let run = 0;
            for (let x = 0; x < canvas.width; x++) {
                const green = near(4 * x, 22) && near(4 * x + 1, 163) && near(4 * x + 2, 74);
                if (green) run++;
                else if (run) { runs.push(run); run = 0; }
            }
            if (run) runs.push(run);
            return runs;
        }""",
        chart,
    )
    return runs
