"""The `tallyhub` command: serve, migrate, apps, tokens, users, demo."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import click

from tallyhub.accounts import tokens as token_store
from tallyhub.settings import SETTINGS, Settings, load_settings, settings_markdown
from tallyhub.storage import app_frameworks
from tallyhub.storage import apps as app_store
from tallyhub.storage import write_tokens as write_token_store
from tallyhub.storage.database import Database
from tallyhub.storage.migrate import upgrade

log = logging.getLogger("tallyhub")


def settings_options(names: tuple[str, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Click options for the named settings, with help text and env var taken from the settings table."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for setting in reversed([s for s in SETTINGS if s.name in names]):
            option = "--" + setting.name.replace("_", "-")
            help_text = f"{setting.help} [env {setting.env_var}; default {setting.default!r}]"
            func = click.option(option, setting.name, type=setting.parse, default=None, help=help_text)(func)
        return func

    return decorate


DB_OPTIONS = ("database_url", "data_dir")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(overrides)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _open_database(settings: Settings) -> Database:
    db = Database(settings.resolved_database_url)
    upgrade(db)
    return db


@click.group()
def main() -> None:
    """Tallyhub: self-hosted API monitoring and analytics."""


@main.command()
@settings_options(tuple(s.name for s in SETTINGS))
def serve(**overrides: Any) -> None:
    """Migrate the database and serve the hub."""
    import uvicorn

    from tallyhub.app import create_app, tune_gc_for_serving

    settings = _settings(**overrides)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    db = _open_database(settings)
    _print_setup_link(db, settings)
    log.info(
        "Tallyhub listening on http://%s:%d (database: %s, %d worker process%s)",
        settings.host,
        settings.port,
        db.url.render_as_string(),
        settings.workers,
        "" if settings.workers == 1 else "es",
    )
    level = settings.log_level.lower()
    server: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": level,
        "access_log": False,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 by default (or $FORWARDED_ALLOW_IPS),
        # letting any local process pick the address the sign-in limiter counts: only listed proxies.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or "",
    }
    if settings.workers == 1:
        app = create_app(settings, db)
        tune_gc_for_serving()
        uvicorn.run(app, **server)
        return
    db.dispose()
    # Worker processes build their own app from the environment: hand them this command's options.
    for setting in SETTINGS:
        if overrides.get(setting.name) is not None:
            os.environ[setting.env_var] = str(overrides[setting.name])
    uvicorn.run("tallyhub.app:create_app_from_environment", factory=True, workers=settings.workers, **server)


@main.command("settings")
def show_settings() -> None:
    """Print every setting with its env var, default and meaning (Markdown)."""
    click.echo(settings_markdown())


@main.command()
@settings_options(DB_OPTIONS)
def migrate(**overrides: Any) -> None:
    """Apply database migrations."""
    _open_database(_settings(**overrides))
    click.echo("database is up to date")


@main.group()
def apps() -> None:
    """Create and list apps."""


@apps.command("create")
@click.argument("name")
@click.option("--env", "envs", multiple=True, help="An environment (repeatable; default: prod and dev).")
@click.option("--json", "as_json", is_flag=True, help="Print the app as JSON.")
@click.option("--team", default=None, help="The team owning the app (created if missing; default: Default).")
@click.option(
    "--framework",
    type=click.Choice(list(app_frameworks.FRAMEWORKS)),
    default=None,
    help="The framework the app is set up with, as the web form's choice (its setup page shows it).",
)
@settings_options(DB_OPTIONS)
def apps_create(
    name: str,
    envs: tuple[str, ...],
    as_json: bool,
    team: str | None = None,
    framework: str | None = None,
    **overrides: Any,
) -> None:
    """Create an app and print its client ID."""
    from tallyhub.identifiers import ENV_RULE, is_valid_env

    bad = [e for e in envs if not is_valid_env(e)]
    if bad:
        raise click.BadParameter(f"{bad[0]!r}: {ENV_RULE}", param_hint="--env")
    db = _open_database(_settings(**overrides))
    team_id = None
    if team is not None:
        from tallyhub.accounts.teams import ensure_team

        try:
            with db.write() as conn:
                team_id = ensure_team(conn, team).id
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--team") from exc
    app = app_store.create_app(db, name, envs or ("prod", "dev"), team_id=team_id, framework=framework)
    with db.write() as conn:
        token = write_token_store.create(conn, app.id, time.time(), 0)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "id": app.id,
                    "name": app.name,
                    "client_id": app.client_id,
                    "write_token": token,
                    "envs": list(app.envs),
                    "framework": app.framework,
                }
            )
        )
    else:
        click.echo(f"Created app {app.name!r} (id {app.id}), environments: {', '.join(app.envs)}")
        click.echo(f"client_id: {app.client_id}")
        click.echo(f"write_token: {token}  (OTLP; shown only now)")


@apps.command("write-token")
@click.argument("app")
@settings_options((*DB_OPTIONS, "write_token_grace_hours"))
def apps_write_token(app: str, **overrides: Any) -> None:
    """Make a new OTLP write token for APP (id or name) and print it; the previous one stays valid for
    --write-token-grace-hours."""
    settings = _settings(**overrides)
    db = _open_database(settings)
    with db.write() as conn:
        found = [a for a in app_store.list_apps(conn) if str(a.id) == app or a.name == app]
        if len(found) != 1:
            raise click.BadParameter(
                f"{app!r}: no such app" if not found else f"{app!r}: several apps have this name, use the id",
                param_hint="APP",
            )
        token = write_token_store.create(
            conn, found[0].id, time.time(), settings.write_token_grace_hours * 3600
        )
    click.echo(token)


@apps.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the apps as JSON.")
@settings_options(DB_OPTIONS)
def apps_list(as_json: bool, **overrides: Any) -> None:
    """List apps with their client IDs."""
    with _open_database(_settings(**overrides)).read() as conn:
        found = app_store.list_apps(conn)
    if as_json:
        click.echo(
            json.dumps(
                [{"id": a.id, "name": a.name, "client_id": a.client_id, "envs": list(a.envs)} for a in found]
            )
        )
        return
    for a in found:
        click.echo(f"{a.id}\t{a.name}\t{a.client_id}\t{','.join(a.envs)}")


@main.group()
def tokens() -> None:
    """Manage read-API tokens."""


@tokens.command("create")
@click.argument("name")
@click.option("--read-only", is_flag=True, help="The token may only read (GET); the API refuses its writes.")
@settings_options(DB_OPTIONS)
def tokens_create(name: str, read_only: bool, **overrides: Any) -> None:
    """Create an API token for every app and print it (it is shown only once)."""
    token = token_store.create_token(_open_database(_settings(**overrides)), name, read_only=read_only)
    click.echo(token)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
@settings_options(DB_OPTIONS)
def tokens_list(as_json: bool, **overrides: Any) -> None:
    """List every token (CLI and team tokens) by id; their secrets are not stored and never shown."""
    with _open_database(_settings(**overrides)).read() as conn:
        found = token_store.list_tokens(conn)
    rows = [
        {
            "id": t.id,
            "name": t.name,
            "team": t.team,
            "kind": "read-only" if t.read_only else "read-write",
            "created_at": t.created_at,
            "last_used_at": t.last_used_at,
        }
        for t in found
    ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        team = row["team"] if row["team"] is not None else "(every app)"
        click.echo(f"{row['id']}\t{row['name']}\t{team}\t{row['kind']}")


@tokens.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1))
@settings_options(DB_OPTIONS)
def tokens_revoke(token_id: int, **overrides: Any) -> None:
    """Revoke the token with this id (from `tallyhub tokens list`); it stops working at once."""
    with _open_database(_settings(**overrides)).write() as conn:
        revoked = token_store.revoke_token(conn, token_id)
    if not revoked:
        raise click.UsageError(f"no token with id {token_id} (see `tallyhub tokens list`)")
    click.echo(f"Revoked token {token_id}")


def _print_setup_link(db: Database, settings: Settings) -> None:
    """While no user exists, print a fresh one-time link that creates the first admin."""
    import time

    from tallyhub.accounts import invites
    from tallyhub.accounts.users import count_users

    with db.read() as conn:
        if count_users(conn):
            return
    secret = invites.create_setup_link(db, time.time())
    click.echo(
        f"No user exists yet. Create the first admin at: {_base_url(settings)}/setup/{secret}", err=True
    )


def _base_url(settings: Settings) -> str:
    """The hub's address in links printed here: public_url, else where `serve` listens."""
    return settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"


@main.group()
def users() -> None:
    """Manage dashboard users."""


@users.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the user an admin of the team.")
@click.option(
    "--role",
    type=click.Choice(["viewer", "member", "admin"]),
    default="member",
    show_default=True,
    help="The user's role in the team (--admin means admin).",
)
@click.option("--team", default="Default", show_default=True, help="The team (created if missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@settings_options(DB_OPTIONS)
def users_create(
    email: str, admin: bool, role: str, team: str, password_stdin: bool, **overrides: Any
) -> None:
    """Create a user who signs in with EMAIL and a password (asked for, or read from stdin)."""
    import sys

    from tallyhub.accounts import teams as team_store
    from tallyhub.accounts import users as user_store

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user_store.normalise_email(email)
        team_store.check_team_name(team)
        password_hash = user_store.hash_password(password)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    db = _open_database(_settings(**overrides))
    try:
        with db.write() as conn:
            user = user_store.create_user(conn, email, password_hash)
            found = team_store.ensure_team(conn, team)
            team_store.set_role(conn, user.id, found.id, "admin" if admin else role)
    except user_store.UserError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"Created user {user.email} ({'admin' if admin else role} of team {found.name!r})")
    if user.is_hub_admin:
        click.echo(f"{user.email} is a hub admin (the first user)")


@users.command("hub-admin")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Take hub admin away instead of granting it.")
@settings_options(DB_OPTIONS)
def users_hub_admin(email: str, revoke: bool, **overrides: Any) -> None:
    """Make the user EMAIL a hub admin (who may create teams when team_creation is "admins")."""
    from tallyhub.accounts import users as user_store

    db = _open_database(_settings(**overrides))
    try:
        with db.write() as conn:
            user = user_store.set_hub_admin(conn, email, not revoke)
    except user_store.UserError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"{user.email} is {'now' if user.is_hub_admin else 'no longer'} a hub admin")


@users.command("reset-password")
@click.argument("email")
@settings_options(("public_url", *DB_OPTIONS))
def users_reset_password(email: str, **overrides: Any) -> None:
    """Print a one-time link (valid 1 hour) where EMAIL's user sets a new password; using it signs out
    every session of the user."""
    import time

    from tallyhub.accounts import passwords
    from tallyhub.accounts import users as user_store

    settings = _settings(**overrides)
    with _open_database(settings).write() as conn:
        user = user_store.user_by_email(conn, email)
        if user is None:
            raise click.UsageError(f"no user with the e-mail {email.strip().lower()}")
        secret = passwords.create_reset_link(conn, user, time.time())
    click.echo(f"Password reset link for {user.email} (works once, for 1 hour):")
    click.echo(f"{_base_url(settings)}/reset/{secret}")


@main.command()
@click.option("--port", type=int, default=8000, show_default=True, help="Port of the demo hub.")
@click.option("--data-dir", default=None, help="Keep the demo's data here (default: a temporary folder).")
def demo(port: int, data_dir: str | None) -> None:
    """Run a hub with a demo login, an instrumented Flask API and its traffic, until Ctrl-C."""
    from tallyhub.demo import runner

    runner.run(port, data_dir)
