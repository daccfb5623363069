"""The framework an app is set up with: chosen when it is created, changed in its settings, shown by
the setup page and the JSON API."""

from __future__ import annotations

import sqlalchemy as sa

from tallyhub.storage.tables import apps

# Key -> label, in the order forms list them. The Hub v2 frameworks are those our `apitally` client
# (and the official one before 1.0) integrates; Express is the official npm client's; the last two are
# the OTLP ways (the official apitally 1.0 client, any OpenTelemetry SDK).
FRAMEWORKS: dict[str, str] = {
    "flask": "Flask",
    "fastapi": "FastAPI",
    "starlette": "Starlette",
    "django-ninja": "Django Ninja",
    "django-rest-framework": "Django REST framework",
    "litestar": "Litestar",
    "blacksheep": "BlackSheep",
    "express": "Express",
    "apitally1": "apitally 1.0 (OTLP)",
    "opentelemetry": "OpenTelemetry SDK (OTLP)",
}
DEFAULT = "flask"  # what the setup page shows for an app without a stored framework
OTLP_WAYS = ("apitally1", "opentelemetry")


class InvalidFramework(ValueError):
    """Not one of FRAMEWORKS; the message lists them."""


def checked(key: str) -> str:
    """`key` when it names a framework, else InvalidFramework listing the keys."""
    if key not in FRAMEWORKS:
        raise InvalidFramework(f"{key!r} is not a framework; one of {', '.join(FRAMEWORKS)}")
    return key


def framework_of(conn: sa.Connection, app_id: int) -> str | None:
    """The app's stored framework (None: never chosen)."""
    return conn.execute(sa.select(apps.c.framework).where(apps.c.id == app_id)).scalar()


def set_framework(conn: sa.Connection, app_id: int, key: str) -> None:
    conn.execute(apps.update().where(apps.c.id == app_id).values(framework=checked(key)))
