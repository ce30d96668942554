"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid, sent to the real app (WSGI) with
a Redis and a worker of its own, with an API key and the rate limiter on. Every answer must be
free of 5xx and match what the document promises: status code, content type, headers, body;
an operation that requires the key must refuse a request without it; a request the document
allows must not be refused as invalid, and one it does not allow must be.
Bounded (a few examples per operation and mode, no deadline) so that it runs in seconds.
(schemathesis' own pytest integration does not run under pytest 9, hence plain Hypothesis.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
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
    positive_data_acceptance,
    negative_data_rejection,
]
#: A crontab the server takes. The document gives a crontab's grammar in prose: five fields,
#: each with its own range, and a date that exists (not 31 February) are more than a schema
#: pattern can say, so a generated string stands for "some crontab".
CRONTAB = "*/5 * * * *"


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
        if mode == GenerationMode.POSITIVE:
            as_a_client_sends_it(case)
        case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS)

    fuzz()


def as_a_client_sends_it(case: schemathesis.Case) -> None:
    """A valid request as a client that also reads the document's prose sends it: a crontab
    that is one (see CRONTAB), and a fresh Idempotency-Key, since a key sent again with
    another body is refused (422) by design, which no schema can say. A ``Prefer: wait``
    holds 0.5 s at most (an add takes 0.2): accepted adds with a countdown or retries held
    the example's 5 s."""
    if isinstance(case.body, dict) and case.body.get("crontab") is not None:
        case.body["crontab"] = CRONTAB
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid4())
    if case.headers and "Prefer" in case.headers:
        case.headers["Prefer"] = "wait=0.5"
