import httpx

from tests.support.hub_process import HubProcess


def test_hub_serves_health_and_openapi(hub: HubProcess) -> None:
    assert httpx.get(f"{hub.url}/healthz").json() == {"status": "ok"}
    schema = httpx.get(f"{hub.url}/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "Tallyhub"


def test_apps_create_prints_a_client_id(hub: HubProcess) -> None:
    created = hub.create_app("Shop", "prod", "staging")
    assert created["envs"] == ["prod", "staging"]
    assert len(str(created["client_id"])) == 36
