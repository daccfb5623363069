"""The `tallyhub` command: serve, migrate, apps, tokens."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import click

from tallyhub.settings import SETTINGS, Settings, load_settings
from tallyhub.storage import apps as app_store
from tallyhub.storage import tokens as token_store
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

    from tallyhub.app import create_app

    settings = _settings(**overrides)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    db = _open_database(settings)
    log.info(
        "Tallyhub listening on http://%s:%d (database: %s, %d worker process%s)",
        settings.host,
        settings.port,
        db.url.render_as_string(),
        settings.workers,
        "" if settings.workers == 1 else "es",
    )
    level = settings.log_level.lower()
    if settings.workers == 1:
        app = create_app(settings, db)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=level, access_log=False)
        return
    db.dispose()
    # Worker processes build their own app from the environment: hand them this command's options.
    for setting in SETTINGS:
        if overrides.get(setting.name) is not None:
            os.environ[setting.env_var] = str(overrides[setting.name])
    uvicorn.run(
        "tallyhub.app:create_app_from_environment",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level=level,
        access_log=False,
    )


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
@settings_options(DB_OPTIONS)
def apps_create(name: str, envs: tuple[str, ...], as_json: bool, **overrides: Any) -> None:
    """Create an app and print its client ID."""
    from tallyhub.identifiers import is_valid_env

    bad = [e for e in envs if not is_valid_env(e)]
    if bad:
        raise click.BadParameter(f"{bad[0]!r}: 1-32 letters, digits, '_' or '-'", param_hint="--env")
    app = app_store.create_app(_open_database(_settings(**overrides)), name, envs or ("prod", "dev"))
    if as_json:
        click.echo(
            json.dumps({"id": app.id, "name": app.name, "client_id": app.client_id, "envs": list(app.envs)})
        )
    else:
        click.echo(f"Created app {app.name!r} (id {app.id}), environments: {', '.join(app.envs)}")
        click.echo(f"client_id: {app.client_id}")


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
@settings_options(DB_OPTIONS)
def tokens_create(name: str, **overrides: Any) -> None:
    """Create a read-API token and print it (it is shown only once)."""
    token = token_store.create_token(_open_database(_settings(**overrides)), name)
    click.echo(token)
