"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid, sent to the real app (WSGI) with
a Redis and a worker of its own, with an API key and the rate limiter on. Every answer must be
free of 5xx and match what the document promises: status code, content type, headers, body;
and an operation that requires the key must refuse a request without it.
Bounded (a few examples per operation and mode, no deadline) so that it runs in seconds.
(schemathesis' own pytest integration does not run under pytest 9, hence plain Hypothesis.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import create_app
from config.redis_server import RedisServer
from tests.conftest import TEST_ADD_DELAY, Workers
from tests.support import sumflow_app
from workflows import SumflowCelery

pytestmark = pytest.mark.integration

KEY = "fuzz-2b7e151628aed2a6"
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


def settings_for(redis_url: str) -> dict[str, object]:
    return {
        "redis_url": redis_url,
        "add_delay_seconds": TEST_ADD_DELAY,
        "api_keys": (KEY,),
        "rate_limit": "100000/minute",
        # ignored_auth's probes (no key, a wrong key) come from one address, more than the
        # default 20 a minute: counted, but never refused.
        "auth_failure_limit": "100000/minute",
    }


def cases() -> list[tuple[str, GenerationMode]]:
    """Every operation of the document (building it needs no Redis), with valid inputs, and
    with invalid ones where it takes any input at all."""
    app = create_app(settings_for("redis://127.0.0.1:1/0"))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        found.append((operation.label, GenerationMode.POSITIVE))
        inputs = (operation.path_parameters, operation.query, operation.headers, operation.body)
        if any(len(part) for part in inputs):
            found.append((operation.label, GenerationMode.NEGATIVE))
    return sorted(found)


@pytest.fixture(scope="module")
def api_schema(celery_app: SumflowCelery, logs_dir: Path) -> Iterator[schemathesis.BaseSchema]:
    """The app on a Redis of its own, with a worker of its own: the fuzz creates schedules,
    groups and tasks at random, and none of that may reach the other tests' Redis."""
    server = RedisServer().start()
    workers = Workers(server.url, celery_app, logs_dir)
    workers.start(("default", "priority"), url=server.url)
    with sumflow_app(settings_for(server.url)) as app:
        yield schemathesis.openapi.from_wsgi("/openapi.json", app)
    workers.stop_all()
    server.stop()


@pytest.mark.parametrize(("label", "mode"), cases())
def test_every_operation_keeps_its_documented_promises(
    api_schema: schemathesis.BaseSchema, label: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS)

    fuzz()
