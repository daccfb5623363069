"""Read-API auth (401), unknown apps (404), bad parameters (422 naming them) and the OpenAPI schema."""

from __future__ import annotations

from typing import Any

ROUTES = ["/traffic", "/endpoints", "/consumers", "/errors", "/instances", "/request-logs"]


def test_missing_or_unknown_token_is_401_json(api: Any) -> None:
    for path in ["/api/v1/apps", f"/api/v1/apps/{api.app_id}/traffic"]:
        for headers in [
            {"Authorization": ""},
            {"Authorization": "Bearer th_wrong"},
            {"Authorization": "Basic eDp5"},
        ]:
            response = api.client.get(path, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
            assert isinstance(response.json()["detail"], str)
    response = api.client.patch(
        f"/api/v1/apps/{api.app_id}/consumers/x", json={"name": "y"}, headers={"Authorization": ""}
    )
    assert response.status_code == 401


def test_apps_are_listed(api: Any) -> None:
    response = api.client.get("/api/v1/apps")
    assert response.status_code == 200
    [app] = response.json()
    assert (app["id"], app["name"], app["client_id"], app["envs"]) == (
        api.app_id,
        "Shop",
        api.client_id,
        ["prod", "dev"],
    )
    assert app["created_at"].endswith("Z")


def test_unknown_app_is_404(api: Any) -> None:
    for route in ROUTES:
        response = api.client.get(f"/api/v1/apps/{api.app_id + 1}{route}")
        assert response.status_code == 404, route
        assert response.json() == {"detail": f"app {api.app_id + 1} not found"}


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("/traffic", {"start": "2026-11-26T10:00:00Z", "end": "2026-11-26T09:00:00Z"}, "start"),
    ("/traffic", {"start": "1700000000", "end": "1700000000"}, "start"),
    ("/traffic", {"start": "yesterday"}, "start"),
    ("/traffic", {"end": "2026-13-01"}, "end"),
    ("/traffic", {"end": "nan"}, "end"),
    ("/traffic", {"end": "1e400"}, "end"),
    ("/traffic", {"start": "-5"}, "start"),
    ("/traffic", {"end": "99999999999999999999"}, "end"),
    ("/traffic", {"interval": "week"}, "interval"),
    ("/traffic", {"start": "0", "end": "100000000", "interval": "minute"}, "interval"),
    ("/traffic", {"env": "no spaces"}, "env"),
    ("/traffic", {"env": "x" * 33}, "env"),
    ("/traffic", {"status": "4x"}, "status"),
    ("/traffic", {"status": "600"}, "status"),
    ("/traffic", {"consumer": "x" * 129}, "consumer"),
    ("/traffic", {"consumer": "a\x00b"}, "consumer"),
    ("/traffic", {"group": "a\x00"}, "group"),
    ("/traffic", {"path": "/\x00"}, "path"),
    ("/traffic", {"method": "G\x00T"}, "method"),
    ("/traffic", {"apdex_t": "0"}, "apdex_t"),
    ("/traffic", {"apdex_t": "abc"}, "apdex_t"),
    ("/endpoints", {"start": "2026-11-26", "end": "2026-11-25"}, "start"),
    ("/endpoints", {"path": "\x00"}, "path"),
    ("/consumers", {"group": "g" * 65}, "group"),
    ("/errors", {"consumer": "\x00"}, "consumer"),
    ("/instances", {"env": "bad env"}, "env"),
    ("/request-logs", {"limit": "0"}, "limit"),
    ("/request-logs", {"limit": "1001"}, "limit"),
    ("/request-logs", {"before": "0"}, "before"),
    ("/request-logs", {"before": str(2**63)}, "before"),
    ("/request-logs", {"method": "\x00"}, "method"),
    ("/request-logs", {"status": "abc"}, "status"),
]


def test_bad_parameters_are_422_naming_them(api: Any) -> None:
    for route, params, name in BAD:
        response = api.client.get(f"/api/v1/apps/{api.app_id}{route}", params=params)
        assert response.status_code == 422, (route, params, response.text)
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", name], (route, params)
        assert error["msg"]


def test_bad_app_ids_are_422(api: Any) -> None:
    for app_id in ["abc", "0", str(2**31), str(2**70)]:
        response = api.client.get(f"/api/v1/apps/{app_id}/traffic")
        assert response.status_code == 422, app_id
        assert response.json()["detail"][0]["loc"] == ["path", "app_id"]


def test_valid_but_unknown_names_answer_with_zeros(api: Any) -> None:
    body = api.get(
        "/traffic", env="staging", consumer="nobody", group="none", method="BREW", path="/x", status="418"
    )
    assert body["env"] == "staging" and body["totals"]["requests"] == 0


def test_openapi_documents_every_route(api: Any) -> None:
    schema = api.client.get("/api/v1/openapi.json").json()
    documented = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    for path, method in [
        ("/api/v1/apps", "get"),
        ("/api/v1/apps/{app_id}/traffic", "get"),
        ("/api/v1/apps/{app_id}/endpoints", "get"),
        ("/api/v1/apps/{app_id}/consumers", "get"),
        ("/api/v1/apps/{app_id}/consumers/{identifier}", "patch"),
        ("/api/v1/apps/{app_id}/errors", "get"),
        ("/api/v1/apps/{app_id}/instances", "get"),
        ("/api/v1/apps/{app_id}/request-logs", "get"),
    ]:
        assert (path, method) in documented
        operation = schema["paths"][path][method]
        assert "200" in operation["responses"] and "401" in operation["responses"]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert operation.get("security"), path
    traffic = schema["components"]["schemas"]["Traffic"]["properties"]
    assert {"totals", "series", "interval"} <= set(traffic)
    assert set(schema["components"]["schemas"]["Stats"]["properties"]) == {
        "requests",
        "requests_4xx",
        "requests_5xx",
        "error_rate",
        "expected_errors",
        "bytes_received",
        "bytes_sent",
        "mean_request_size",
        "mean_response_size",
        "p50",
        "p75",
        "p95",
        "p99",
        "apdex",
    }


def test_a_team_token_reads_only_its_teams_apps(api: Any, db: Any) -> None:
    from tallyhub.accounts.team_tokens import create_team_token
    from tallyhub.accounts.teams import ensure_team
    from tallyhub.storage import apps as app_store

    with db.write() as conn:
        team_id = ensure_team(conn, "Payments").id
        token = create_team_token(conn, team_id, "ci")
    theirs = app_store.create_app(db, "Ledger", ("prod",), team_id=team_id)
    headers = {"Authorization": f"Bearer {token}"}
    listed = api.client.get("/api/v1/apps", headers=headers).json()
    assert [a["name"] for a in listed] == ["Ledger"]
    assert api.client.get(f"/api/v1/apps/{theirs.id}/traffic", headers=headers).status_code == 200
    for route in ROUTES:
        response = api.client.get(f"/api/v1/apps/{api.app_id}{route}", headers=headers)
        assert response.status_code == 404, route  # another team's app looks like no app at all
    patched = api.client.patch(f"/api/v1/apps/{api.app_id}/consumers/x", json={"name": "y"}, headers=headers)
    assert patched.status_code == 404
    # The CLI token (no team) still reads every app.
    assert {a["name"] for a in api.client.get("/api/v1/apps").json()} == {"Shop", "Ledger"}
