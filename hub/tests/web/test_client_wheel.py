"""GET /client/<wheel>: the hub serves its own client's wheel, as client/pyproject.toml describes it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tallyhub.web.client_wheel import ClientWheel

from tests.support.client_wheel import client_project, client_wheel_filename, wheel_metadata
from tests.support.web import Web


def test_the_wheel_of_the_checkouts_client_is_served_with_its_metadata(web: Web) -> None:
    client = web.client()
    filename = client_wheel_filename()
    response = client.get(f"/client/{filename}", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "content-encoding" not in response.headers  # a zip is not compressed again
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert response.headers["cache-control"] == "public, max-age=3600"
    served = wheel_metadata(response.content)
    declared = client_project()
    assert (served.name, served.version, served.extras) == (declared.name, declared.version, declared.extras)
    assert {"apitally/__init__.py", "apitally/flask.py", "apitally/fastapi.py"} <= served.files

    etag = response.headers["etag"]
    again = client.get(f"/client/{filename}", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    stale = client.get(f"/client/{filename}", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200 and stale.content == response.content
    head = client.head(f"/client/{filename}")
    assert head.status_code == 200 and head.headers["etag"] == etag


def test_another_file_name_is_not_found_and_names_the_wheel_served(web: Web) -> None:
    client = web.client()
    for wrong in ("apitally-9.9.9-py3-none-any.whl", "apitally.whl", "pyproject.toml"):
        response = client.get(f"/client/{wrong}")
        assert response.status_code == 404, wrong
        assert f"this hub serves /client/{client_wheel_filename()}" in response.text


def test_a_shipped_wheel_is_served_before_the_checkouts(web: Web, tmp_path: Path) -> None:
    client = web.client()
    checkout = client.get(f"/client/{client_wheel_filename()}").content
    shipped = tmp_path / "client_dist"
    shipped.mkdir()
    (shipped / "apitally-7.0.0-py3-none-any.whl").write_bytes(checkout)
    client.app.state.client_wheel = ClientWheel(packaged=shipped, checkout_client=tmp_path / "nothing")
    assert client.get(f"/client/{client_wheel_filename()}").status_code == 404
    response = client.get("/client/apitally-7.0.0-py3-none-any.whl")
    assert response.status_code == 200 and response.content == checkout


def test_no_wheel_and_nothing_to_build_it_from_is_a_404_that_says_so(web: Web, tmp_path: Path) -> None:
    client = web.client()
    client.app.state.client_wheel = ClientWheel(packaged=tmp_path / "none", checkout_client=tmp_path / "none")
    response = client.get(f"/client/{client_wheel_filename()}")
    assert response.status_code == 404 and "this hub serves no client wheel" in response.text


def test_a_failed_build_is_a_503_with_the_reason(web: Web, tmp_path: Path) -> None:
    broken = tmp_path / "client"
    shutil.copytree(Path(__file__).resolve().parents[3] / "client" / "src", broken / "src")
    (broken / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "no_such_backend"\n\n'
        '[project]\nname = "apitally"\nversion = "0.0.1"\n'
    )
    client = web.client()
    client.app.state.client_wheel = ClientWheel(packaged=tmp_path / "none", checkout_client=broken)
    response = client.get("/client/apitally-0.0.1-py3-none-any.whl")
    assert response.status_code == 503
    assert "Building the client's wheel" in response.text and "failed" in response.text
    assert response.headers["retry-after"] == "60"
