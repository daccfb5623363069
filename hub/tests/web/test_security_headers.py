"""Security headers on every response (pages, API, docs, ingestion, static files); HSTS over https only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tallyhub.storage import apps as app_store

from tests.support.web import Web

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "tallyhub" / "web" / "templates"


def _assert_hardened(headers: object, path: str) -> None:
    get = headers.get  # type: ignore[attr-defined]
    csp = get("content-security-policy") or ""
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
    assert "script-src 'self'" in csp and "style-src 'self'" in csp, path
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
    assert get("x-frame-options") == "DENY", path
    assert get("x-content-type-options") == "nosniff", path
    assert get("referrer-policy") == "same-origin", path


def test_every_kind_of_response_carries_the_headers(web: Web) -> None:
    created = app_store.create_app(web.db, "Shop", ("prod",))
    client = web.client()
    responses = {
        "/login": client.get("/login"),
        "/apps (redirect)": client.get("/apps"),
        "/api/v1/docs": client.get("/api/v1/docs"),
        "/api/v1/openapi.json": client.get("/api/v1/openapi.json"),
        "/api/v1/apps (401)": client.get("/api/v1/apps"),
        "/healthz": client.get("/healthz"),
        "/static/tallyhub.css": client.get("/static/tallyhub.css"),
        "/v2 startup (422)": client.post(f"/v2/{created.client_id}/prod/startup", content=b"{}"),
        "/nowhere (404)": client.get("/nowhere"),
    }
    for path, response in responses.items():
        _assert_hardened(response.headers, path)
        assert "strict-transport-security" not in response.headers, path  # plain http
    assert responses["/login"].status_code == 200 and responses["/api/v1/docs"].status_code == 200


@pytest.mark.parametrize(
    ("base_url", "public_url"), [("https://testserver", ""), ("http://testserver", "https://hub.example.com")]
)
def test_hsts_when_served_over_https(web: Web, base_url: str, public_url: str) -> None:
    client = web.client(base_url, public_url=public_url)
    for path in ("/login", "/api/v1/openapi.json", "/healthz"):
        response = client.get(path)
        assert response.headers["strict-transport-security"].startswith("max-age="), path
        _assert_hardened(response.headers, path)


def test_api_docs_are_served_by_the_hub(web: Web) -> None:
    client = web.client()
    page = client.get("/api/v1/docs").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/vendor/swagger-ui-bundle.js" in sources and "/static/vendor/swagger-ui.css" in sources
    assert not [s for s in sources if "//" in s]  # no CDN
    for source in sources:
        if source.startswith("/"):
            assert client.get(source).status_code == 200, source
    assert 'data-openapi-url="/api/v1/openapi.json"' in page
    assert client.get("/docs/oauth2-redirect").status_code == 404  # FastAPI's page with an inline script


def test_templates_have_no_inline_script_or_style() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\sstyle=", text), template.name
        assert not re.search(r"<style", text), template.name
        assert not re.search(r"<script(?![^>]*\ssrc=)", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name  # onclick= and the like


def test_an_unhandled_error_answers_500_with_the_headers(web: Web) -> None:
    # Starlette answers an unhandled exception from outside every middleware added with
    # add_middleware; the hub's 500 must still carry the headers.
    hub = web.app()

    @hub.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    from fastapi.testclient import TestClient

    response = TestClient(hub, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    _assert_hardened(response.headers, "/boom (500)")
