"""Setup instructions per framework: install command, hub URL and code, with the app's client ID.

The Flask code is the one of the Apitally Flask setup guide, word for word; the hub URL reaches the
client through APITALLY_HUB_BASE_URL (read when `apitally` is imported, so set it in the environment).
"""

from __future__ import annotations

import dataclasses

from tallyhub.storage import app_frameworks


@dataclasses.dataclass(frozen=True)
class Framework:
    key: str
    label: str
    install: str
    language: str  # "python" or "javascript"
    code: str  # with the placeholder {client_id}
    # The extra of this project's client (served by the hub) for the framework; "" when it has none.
    extra: str = ""


# The same settings serve Django Ninja and Django REST framework; only the install's extra differs.
_DJANGO_SETTINGS = """# settings.py
MIDDLEWARE = [
    "apitally.django.ApitallyMiddleware",
    # Other middleware ...
]

APITALLY_MIDDLEWARE = {
    "client_id": "{client_id}",
    "env": "dev",  # or "prod" etc.
}"""

# The Hub v2 tabs of the setup page; every key is one of storage.app_frameworks.FRAMEWORKS.
FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        "flask",
        "Flask",
        'pip install "apitally[flask]>=0.25,<1"',
        "python",
        """from flask import Flask
from apitally.flask import ApitallyMiddleware

app = Flask(__name__)
app.wsgi_app = ApitallyMiddleware(
    app,
    client_id="{client_id}",
    env="dev",  # or "prod" etc.
)""",
        extra="flask",
    ),
    Framework(
        "fastapi",
        "FastAPI",
        'pip install "apitally[fastapi]>=0.25,<1"',
        "python",
        """from fastapi import FastAPI
from apitally.fastapi import ApitallyMiddleware

app = FastAPI()
app.add_middleware(
    ApitallyMiddleware,
    client_id="{client_id}",
    env="dev",  # or "prod" etc.
)""",
        extra="fastapi",
    ),
    Framework(
        "starlette",
        "Starlette",
        'pip install "apitally[starlette]>=0.25,<1"',
        "python",
        """from starlette.applications import Starlette
from apitally.starlette import ApitallyMiddleware

app = Starlette(routes=[...])
app.add_middleware(
    ApitallyMiddleware,
    client_id="{client_id}",
    env="dev",  # or "prod" etc.
)""",
        extra="starlette",
    ),
    Framework(
        "django-ninja",
        "Django Ninja",
        'pip install "apitally[django_ninja]>=0.25,<1"',
        "python",
        _DJANGO_SETTINGS,
        extra="django-ninja",
    ),
    Framework(
        "django-rest-framework",
        "Django REST framework",
        'pip install "apitally[django_rest_framework]>=0.25,<1"',
        "python",
        _DJANGO_SETTINGS,
        extra="django-rest-framework",
    ),
    Framework(
        "litestar",
        "Litestar",
        'pip install "apitally[litestar]>=0.25,<1"',
        "python",
        """from litestar import Litestar
from apitally.litestar import ApitallyPlugin

app = Litestar(
    route_handlers=[...],
    plugins=[
        ApitallyPlugin(
            client_id="{client_id}",
            env="dev",  # or "prod" etc.
        )
    ],
)""",
        extra="litestar",
    ),
    Framework(
        "blacksheep",
        "BlackSheep",
        'pip install "apitally[blacksheep]>=0.25,<1"',
        "python",
        """from blacksheep import Application
from apitally.blacksheep import use_apitally

app = Application()
use_apitally(
    app,
    client_id="{client_id}",
    env="dev",  # or "prod" etc.
)""",
        extra="blacksheep",
    ),
    Framework(
        "express",
        "Express",
        "npm install apitally@0.25",
        "javascript",
        """const express = require("express");
const { useApitally } = require("apitally/express");

const app = express();
app.use(express.json());

useApitally(app, {
  clientId: "{client_id}",
  env: "dev", // or "prod" etc.
});""",
    ),
)

BY_KEY = {f.key: f for f in FRAMEWORKS}
DEFAULT = app_frameworks.DEFAULT


def tab_for(framework: str | None) -> str:
    """The Hub v2 tab the setup page opens on for an app set up with `framework` (a stored key or None):
    its own, else (none chosen, or an OTLP way, which has its own section) the default."""
    return framework if framework in BY_KEY else DEFAULT


@dataclasses.dataclass(frozen=True)
class Snippet:
    framework: Framework
    install: str  # this project's client from the hub where it has the framework, else the official one
    official_install: str | None  # the official client's, when `install` is this project's
    environment: str
    code: str


def own_install(extra: str, hub_url: str, wheel_filename: str) -> str:
    """The pip command that installs this project's client, with `extra`, from the hub's wheel URL."""
    return f'pip install "apitally[{extra}] @ {hub_url}/client/{wheel_filename}"'


def snippet(framework: str, client_id: str, hub_url: str, wheel_filename: str | None) -> Snippet:
    """The instructions for `framework` (a key of BY_KEY) with the client ID and hub URL filled in;
    `wheel_filename` is the client wheel the hub serves (None: it serves none)."""
    chosen = BY_KEY[framework]
    if chosen.extra and wheel_filename:
        install = own_install(chosen.extra, hub_url, wheel_filename)
        official: str | None = chosen.install
    else:
        install, official = chosen.install, None
    return Snippet(
        chosen,
        install,
        official,
        f'export APITALLY_HUB_BASE_URL="{hub_url}"',
        chosen.code.replace("{client_id}", client_id),
    )


TOKEN_PLACEHOLDER = "<write token>"


@dataclasses.dataclass(frozen=True)
class OtlpSnippets:
    """The two OTLP ways: the official apitally 1.0 client, and any OpenTelemetry SDK."""

    apitally_install: str
    apitally_environment: str
    apitally_code: str
    otel_environment: str


def otlp(write_token: str | None, env: str, hub_url: str) -> OtlpSnippets:
    """The OTLP instructions with the hub URL, the env and the write token (or a placeholder) filled in."""
    token = write_token or TOKEN_PLACEHOLDER
    return OtlpSnippets(
        'pip install "apitally[flask]>=1"',
        f'export APITALLY_OTLP_ENDPOINT="{hub_url}"',
        f"""import apitally
from flask import Flask

app = Flask(__name__)
apitally.init(app, write_token="{token}", env="{env}")""",
        "\n".join(
            (
                f'export OTEL_EXPORTER_OTLP_ENDPOINT="{hub_url}"',
                'export OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"',
                f'export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {token}"',
                f'export OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name={env}"',
            )
        ),
    )
