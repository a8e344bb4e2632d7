"""Schemathesis fuzzes every operation in the OpenAPI schema against the real service; nothing may answer 500."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from helpers import running_service
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from assistant.config import Config
from assistant.serve.app import create_app

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 20
statuses: Counter[str] = Counter()


@pytest.fixture(scope="module")
def api_schema(stack_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    allowed = str(tmp_path_factory.mktemp("allowed"))
    config = stack_config.with_overrides({"vlm.max_tokens": 8, "server.allowed_dirs": (allowed,)})
    with running_service(config) as service:
        yield schemathesis.openapi.from_asgi("/openapi.json", create_app(service))
    print(f"schemathesis: {sum(statuses.values())} requests, by status: {dict(sorted(statuses.items()))}")


def test_no_request_gets_a_server_error(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            response = case.call()
            statuses[f"{case.method} {case.path} {response.status_code}"] += 1
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400:  # every refusal is a sentence in JSON
                assert isinstance(response.json().get("error"), str), response.text

        call()
