"""Dashboard (tallyhub.web) view-test helpers: users in teams and clients signed in through the form."""

from __future__ import annotations

import dataclasses
from typing import Any

WEB_PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    """The CSRF token in a rendered dashboard page."""
    import re

    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


@dataclasses.dataclass
class Web:
    """The hub's ASGI app (create_app, no maintenance) over one database, with users and sign-in."""

    db: Any
    password: str = WEB_PASSWORD

    def app(self, **overrides: Any) -> Any:
        """A fresh hub app instance (one hub process) over the database, with settings overridden."""
        from tallyhub.app import create_app
        from tallyhub.settings import load_settings

        url = self.db.url.render_as_string(hide_password=False)
        return create_app(load_settings({"database_url": url, **overrides}), self.db, run_maintenance=False)

    def client(
        self,
        base_url: str = "http://testserver",
        address: str = "testclient",
        app: Any = None,
        **overrides: Any,
    ) -> Any:
        """A TestClient on `app` or a fresh app instance (two clients = two hub processes over one database).

        `address` is the peer address the hub sees, as a browser on another machine would have.
        """
        import warnings

        with warnings.catch_warnings():
            # Starlette's TestClient warns that it prefers another HTTP package; it works with httpx.
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        hub = app if app is not None else self.app(**overrides)
        return TestClient(hub, base_url=base_url, follow_redirects=False, client=(address, 50000))

    def user(self, email: str, team: str = "Acme", role: str = "admin") -> int:
        """Make (or reuse) a user with WEB_PASSWORD and give them `role` in `team`; returns the id."""
        from tallyhub.accounts import teams, users

        with self.db.write() as conn:
            user = users.user_by_email(conn, email) or users.create_user(
                conn, email, users.hash_password(self.password)
            )
            teams.set_role(conn, user.id, teams.ensure_team(conn, team).id, role)
        return int(user.id)

    def team_id(self, name: str) -> int:
        from tallyhub.accounts import teams

        with self.db.read() as conn:
            found = teams.team_by_name(conn, name)
        assert found is not None
        return found.id

    def signed_in(self, email: str, base_url: str = "http://testserver") -> Any:
        """A client signed in through the login form."""
        client = self.client(base_url)
        page = client.get("/login")
        response = client.post(
            "/login", data={"email": email, "password": self.password, "csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 303, response.text
        return client

    @staticmethod
    def csrf(html: str) -> str:
        return csrf_of(html)

    @staticmethod
    def post(client: Any, path: str, data: dict[str, str] | None = None, page: str = "/apps") -> Any:
        """POST a form the way a browser does: with the CSRF token of a page it just loaded."""
        token = csrf_of(client.get(page).text)
        return client.post(path, data={"csrf_token": token, **(data or {})})
