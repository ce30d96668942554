"""One request followed through the logs: its access line and the tasks it sent share an id.

The web process handles many requests at once, so a task's SENT line and the access line of the
request that sent it could only be matched by time. Each answer now carries ``X-Request-ID``
(the client's own, when it sends a usable one), and the request's access line and SENT lines
name it; the SENT lines name the task ids the worker's lines carry.
"""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask.testing import FlaskClient

from config.logging_config import JsonFormatter

pytestmark = pytest.mark.integration

GENERATED = re.compile(r"[0-9a-f]{32}")


def _lines(caplog: pytest.LogCaptureFixture, request_id: str) -> dict[str, list[str]]:
    """The messages of the access and task loggers' records that carry ``request_id``."""
    found: dict[str, list[str]] = {"sumflow.access": [], "sumflow.tasks": []}
    for record in caplog.records:
        if record.name in found and getattr(record, "request_id", None) == request_id:
            found[record.name].append(record.getMessage())
    return found


def test_an_add_is_followed_from_its_access_line_to_the_task_it_sent(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = client.post("/add", json={"a": 5, "b": 3})
    assert response.status_code == 202
    request_id = response.headers["X-Request-ID"]
    assert GENERATED.fullmatch(request_id)
    task_id = response.get_json()["task_id"]

    lines = _lines(caplog, request_id)
    (access,) = lines["sumflow.access"]
    assert re.fullmatch(rf'127\.0\.0\.1 "POST /add" 202 [\d.]+ ms request={request_id}', access)
    assert lines["sumflow.tasks"] == [
        f"task sumflow.add[{task_id}] SENT queue=default request={request_id}"
    ]


def test_every_task_a_chord_sends_names_the_request(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/chords", json={"pairs": [[1, 2], [3, 4]]}, headers={"X-Request-ID": "lb-7f3a.2"}
        )
    assert response.status_code == 202
    assert response.headers["X-Request-ID"] == "lb-7f3a.2"  # the client's own, kept
    sent = _lines(caplog, "lb-7f3a.2")["sumflow.tasks"]
    for task_id in response.get_json()["task_ids"]:
        assert f"task sumflow.add[{task_id}] SENT queue=default request=lb-7f3a.2" in sent


@pytest.mark.parametrize(
    "given",
    ['a "quoted" id', "x" * 129, "tab\there", "back\\slash", "caf\u00e9", ""],
)
def test_an_unusable_request_id_is_replaced(client: FlaskClient, given: str) -> None:
    """The id goes into log lines as it is: one that could break a line or its fields, or
    run on without end, is not taken."""
    response = client.get("/retry-policies", headers={"X-Request-ID": given})
    assert response.status_code == 200
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])


def test_errors_carry_a_request_id_and_json_lines_a_field(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = client.post("/add", json={"a": "5", "b": 3}, headers={"X-Request-ID": "r-1"})
    assert response.status_code == 422
    assert response.headers["X-Request-ID"] == "r-1"
    (access,) = [r for r in caplog.records if r.name == "sumflow.access"]
    payload = json.loads(JsonFormatter().format(access))
    assert payload["request_id"] == "r-1"
    assert payload["message"].endswith(" request=r-1")
