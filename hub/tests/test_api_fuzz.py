"""Fuzz the read API from its own OpenAPI schema: no input gives a 500, and responses match the schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import hypothesis.strategies as st
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

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
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 18  # 8 read routes, 7 uptime routes, 3 alert routes
    for operation in operations:
        # Positive cases reach the queries (app_id pinned to the real app); negative ones the validation.
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"app_id": api.app_id}),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {api.token}"})
            assert response.status_code < 500, (case.as_curl_command(), response.text)
            assert response.headers["content-type"] == ["application/json"], response.headers
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
