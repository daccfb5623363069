"""Invitation, account and reset pages in a real browser (Debian's chromium) against `tallyhub serve`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.browser import chromium, sign_in
from tests.support.hub_process import HubProcess, tallyhub_cli

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin password"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def test_invite_accept_change_and_reset_password(browser, hub: HubProcess, database_url: str) -> None:
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "tallyhub",
            "users",
            "create",
            "root@example.com",
            "--admin",
            "--team",
            "Ops",
            "--password-stdin",
            "--database-url",
            database_url,
        ],
        input=ADMIN_PASSWORD + "\n",
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    admin = browser.new_context().new_page()  # type: ignore[attr-defined]
    sign_in(admin, hub.url, "root@example.com", ADMIN_PASSWORD)
    admin.click("text=Team Ops")
    admin.fill('form[action$="/members"] input[name="email"]', "new@example.com")
    admin.select_option('form[action$="/members"] select[name="role"]', "member")
    admin.click('form[action$="/members"] button[type="submit"]')
    assert "sends no e-mail" in admin.inner_text("main")
    link = admin.inner_text("#invite-link")

    # The invitee creates the account from the link, then changes the password on /account.
    guest = browser.new_context().new_page()  # type: ignore[attr-defined]
    guest.goto(link)
    assert "Join team Ops" in guest.inner_text("main")
    guest.fill('input[name="password"]', "first password")
    guest.fill('input[name="password2"]', "first password")
    guest.click("text=Create account and join")
    guest.wait_for_url(f"{hub.url}/apps")
    guest.click("header >> text=new@example.com")
    guest.wait_for_url(f"{hub.url}/account")
    guest.fill('input[name="current"]', "first password")
    guest.fill('input[name="password"]', "second password")
    guest.fill('input[name="password2"]', "second password")
    guest.click("text=Change password")
    guest.wait_for_url(f"{hub.url}/account?done=password")
    assert "Password changed" in guest.inner_text("main")

    # The operator's reset link sets a third password and signs the invitee out everywhere.
    printed = tallyhub_cli(database_url, "users", "reset-password", "new@example.com")
    reset = printed.strip().splitlines()[-1].replace("http://127.0.0.1:8000", hub.url)
    other = browser.new_context().new_page()  # type: ignore[attr-defined]
    other.goto(reset)
    other.fill('input[name="password"]', "third password")
    other.fill('input[name="password2"]', "third password")
    other.click("text=Set password")
    other.wait_for_url(f"{hub.url}/apps")
    guest.goto(f"{hub.url}/account")
    guest.wait_for_url(f"{hub.url}/login?next=%2Faccount")
    sign_in(guest, hub.url, "new@example.com", "third password")
