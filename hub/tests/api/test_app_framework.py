"""The JSON API's app representation carries the framework the app is set up with (documented)."""

from __future__ import annotations

from typing import Any

from tallyhub.storage import app_frameworks
from tallyhub.storage import apps as app_store


def test_apps_list_their_framework(api: Any) -> None:
    db = api.writer.db
    app_store.create_app(db, "Api", ("prod",), framework="django-ninja")
    with db.write() as conn:
        app_frameworks.set_framework(conn, api.app_id, "blacksheep")
    listed = {a["name"]: a["framework"] for a in api.client.get("/api/v1/apps").json()}
    assert listed == {"Shop": "blacksheep", "Api": "django-ninja"}
    unset = app_store.create_app(db, "Old", ("prod",))
    listed = {a["id"]: a["framework"] for a in api.client.get("/api/v1/apps").json()}
    assert listed[unset.id] is None


def test_the_framework_is_documented_in_the_openapi_schema(api: Any) -> None:
    schema = api.client.get("/api/v1/openapi.json").json()
    field = schema["components"]["schemas"]["AppInfo"]["properties"]["framework"]
    assert "django-rest-framework" in field["description"] and "null" in field["description"]
    assert "framework" in schema["components"]["schemas"]["AppInfo"]["required"]
