"""Fuzz the read API from its own OpenAPI schema: no input gives a 500, and responses match the schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import hypothesis.strategies as st
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks
from tallyhub.storage.tables import apps

from tests.support.metric_rows import Req

T0 = int(datetime(2026, 11, 26, tzinfo=UTC).timestamp())


def test_read_api_never_fails(api: Any) -> None:
    api.writer.consumer("alice", name="Alice", group="admins")
    api.writer.write(
        [
            Req(T0 + 30 * i, "GET", "/items/{id}", 200 + (i % 4) * 100, "alice" if i % 2 else None, i * 7, i)
            for i in range(40)
        ]
    )
    # A rule and a channel to reach (its URL refuses connections at once, so a test send is quick).
    with api.writer.db.read() as conn:
        team_id = conn.execute(sa.select(apps.c.team_id).where(apps.c.id == api.app_id)).scalar_one()
    channel = api.client.post(
        "/api/v1/alert-channels", json={"name": "ops", "url": "json://127.0.0.1:9/x", "team_id": team_id}
    ).json()
    rule = api.client.post(
        f"/api/v1/apps/{api.app_id}/alert-rules",
        json={"name": "r", "env": "prod", "metric": "p95", "comparison": ">", "threshold": 1},
    ).json()
    known = {"app_id": api.app_id, "rule_id": rule["id"], "channel_id": channel["id"]}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # 12 read routes, 7 uptime routes, 7 alert-rule routes, 5 channel routes, 4 endpoint-settings routes,
    # 3 saved-view routes
    assert len(operations) == 38
    for operation in operations:
        # Positive cases reach the queries (ids pinned to real rows); negative ones the validation.
        pinned = {name: value for name, value in known.items() if f"{{{name}}}" in operation.path}
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {api.token}"})
            assert response.status_code < 500, (case.as_curl_command(), response.text)
            if response.status_code != 204:  # a DELETE that found its row answers without a body
                # Request logs and traffic answer CSV when asked (format=csv); everything else is JSON.
                wants_csv = response.status_code == 200 and (case.query or {}).get("format") == "csv"
                expected = "text/csv; charset=utf-8" if wants_csv else "application/json"
                assert response.headers["content-type"] == [expected], response.headers
            # Schema conformance only: unknown query parameters are ignored, as HTTP APIs usually do.
            case.validate_response(
                response,
                checks=[
                    checks.not_a_server_error,
                    checks.status_code_conformance,
                    checks.content_type_conformance,
                    checks.response_schema_conformance,
                ],
            )

        check()
