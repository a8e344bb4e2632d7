"""Schemathesis fuzzes every operation in the OpenAPI schema against the real service; nothing may answer 500."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from assistant.config import Config
from assistant.factory import make_assistant
from assistant.runner import DiscardSink
from assistant.server import create_app
from assistant.service import Service

EXAMPLES_PER_OPERATION = 20
statuses: Counter[str] = Counter()


@pytest.fixture(scope="module")
def api_schema(
    tiny_pair: Any, whisper_dir: Path, voice_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    config = Config().with_overrides(
        {
            "vlm.model": str(tiny_pair.model),
            "vlm.mmproj": str(tiny_pair.mmproj),
            "vlm.temperature": 0.0,
            "vlm.max_tokens": 8,
            "stt.whisper": str(whisper_dir),
            "tts.voice": str(voice_file),
            "server.allowed_dirs": (str(tmp_path_factory.mktemp("allowed")),),
            "server.request_timeout_s": 30.0,
        }
    )
    assistant = make_assistant(config, DiscardSink(), lambda kind, text: None)
    service = Service(assistant, config.server)
    service.start()
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(service))
    service.stop()
    assert assistant.vlm is not None
    assistant.vlm.close()
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
