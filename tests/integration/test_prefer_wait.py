"""``Prefer: wait=N`` on POST /add: the sum in the POST's own answer when it is ready in time."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient

from tests.support import Service

pytestmark = pytest.mark.integration


def post(client: FlaskClient, body: dict, prefer: str | None, **headers: str) -> object:
    if prefer is not None:
        headers["Prefer"] = prefer
    return client.post("/add", json=body, headers=headers)


def test_a_task_done_in_time_is_answered_200_with_its_result(
    client: FlaskClient, worker: Service
) -> None:
    response = post(client, {"a": 5, "b": 3}, "wait=10")

    assert response.status_code == 200
    task_id = response.json["task_id"]
    assert response.json == {"task_id": task_id, "status": "SUCCESS", "result": 8}
    assert response.headers["Location"] == f"/result/{task_id}"
    assert response.headers["Preference-Applied"] == "wait=10"
    # The id is an ordinary task id: its result can be read again.
    assert client.get(f"/result/{task_id}").json == {"status": "SUCCESS", "result": 8}


def test_a_task_not_done_in_time_is_answered_202_as_usual(
    client: FlaskClient, worker: Service
) -> None:
    response = post(client, {"a": 1, "b": 2, "countdown": 5}, "respond-async, wait=0.3")

    assert response.status_code == 202
    assert set(response.json) == {"task_id"}
    assert response.headers["Preference-Applied"] == "wait=0.3"
    pending = client.get(f"/result/{response.json['task_id']}").json
    assert pending == {"status": "PENDING", "result": None}


def test_a_failed_task_is_answered_200_with_the_error(client: FlaskClient, worker: Service) -> None:
    body = {"a": 1, "b": 2, "fail_times": 1, "retry_policy": "none"}
    response = post(client, body, "wait=10")

    assert response.status_code == 200
    assert response.json["status"] == "FAILURE"
    assert "simulated transient failure" in response.json["result"]


@pytest.mark.parametrize("prefer", [None, "respond-async", "wait=soon", "wait=0"])
def test_without_a_usable_wait_nothing_changes(
    client: FlaskClient, worker: Service, prefer: str | None
) -> None:
    response = post(client, {"a": 5, "b": 3}, prefer)

    assert response.status_code == 202
    assert set(response.json) == {"task_id"}
    assert "Preference-Applied" not in response.headers


def test_a_wait_beyond_30_seconds_is_capped(client: FlaskClient, worker: Service) -> None:
    response = post(client, {"a": 5, "b": 3}, "wait=600")

    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "wait=30"


def test_bad_input_is_still_422_naming_the_field(client: FlaskClient) -> None:
    response = post(client, {"a": "five", "b": 3}, "wait=5")

    assert response.status_code == 422
    assert "a" in response.json["errors"]["json"]


def test_a_replayed_request_gets_the_first_answer_with_its_result(
    client: FlaskClient, worker: Service
) -> None:
    key = str(uuid.uuid4())
    first = post(client, {"a": 2, "b": 3}, "wait=10", **{"Idempotency-Key": key})
    again = post(client, {"a": 2, "b": 3}, "wait=10", **{"Idempotency-Key": key})

    assert first.status_code == again.status_code == 200
    assert again.json == first.json == {**first.json, "status": "SUCCESS", "result": 5}
    assert again.headers["Preference-Applied"] == "wait=10"
    assert again.headers["Idempotent-Replayed"] == "true"


def test_the_header_and_the_200_answer_are_documented(client: FlaskClient) -> None:
    path = client.get("/openapi.json").json["paths"]["/add"]
    operation = path["post"]

    parameters = path.get("parameters", []) + operation["parameters"]
    assert ("header", "Prefer") in {(p["in"], p["name"]) for p in parameters}
    done = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert done == {"$ref": "#/components/schemas/TaskDone"}
