"""schemathesis over /openapi.json against the real server: no server error, every answer matches the schema."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.web.builders import build_site, serving
from vigil.app import App

EXAMPLES = 15  # per operation: ~30 operations, a few seconds each


def test_every_operation_answers_per_its_schema_without_server_errors(tmp_path: Path) -> None:
    site = build_site(App.init(tmp_path / "ws"), per_camera=1)
    headers = {"Authorization": f"Bearer {site.tokens['admin']}"}
    with serving(site.app, token_ttl=60.0) as base:
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 20
        for operation in operations:
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=operation.as_strategy())
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=base, headers=headers,
                                       checks=[not_a_server_error, response_schema_conformance])

            check()
