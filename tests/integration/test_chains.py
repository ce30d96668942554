"""POST /chains: ((n0 + n1) + n2) + ... as a Celery chain, against real workers."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sums
from tests.support import Service

pytestmark = pytest.mark.integration

NO_RETRIES = {"max_retries": 0, "backoff": 0, "backoff_max": 0, "jitter": False}


def test_a_chain_of_20_numbers_gives_their_sum(
    client: FlaskClient, sums: Sums, fast_worker: Service
) -> None:
    # Submit 1 + 2 + ... + 20: accepted with the last step's id and every step's id. On the
    # worker without simulated work: 19 steps in a row at 0.2 s each took 4 s.
    response = client.post("/chains", json={"numbers": list(range(1, 21)), "queue": "priority"})
    assert response.status_code == 202
    body = response.json
    assert len(body["task_ids"]) == 19 and body["task_id"] == body["task_ids"][-1]
    assert response.headers["Location"] == f"/result/{body['task_id']}"

    # The last step gives the total; every step was issued and shows its running sum.
    assert sums.finished(body["task_id"], wait=20) == {"status": "SUCCESS", "result": 210}
    running = [sums.result(task_id)["result"] for task_id in body["task_ids"]]
    assert running == [sum(range(1, k + 1)) for k in range(2, 21)]


def test_floats_and_big_integers_in_a_chain(
    client: FlaskClient, sums: Sums, fast_worker: Service
) -> None:
    response = client.post(
        "/chains", json={"numbers": [2**62, 2**62, -1, 0.5], "queue": "priority"}
    )
    assert sums.finished(response.json["task_id"])["result"] == 2**63 - 0.5
    exact = client.post("/chains", json={"numbers": [2**62, 2**62, 1], "queue": "priority"})
    assert sums.finished(exact.json["task_id"])["result"] == 2**63 + 1


def test_a_failing_chain_reports_failure_naming_the_step(
    client: FlaskClient, sums: Sums, fast_worker: Service
) -> None:
    # Every add fails its first attempt and the policy allows no retry: step 1 fails.
    response = client.post(
        "/chains",
        json={
            "numbers": [1, 2, 3, 4, 5],
            "fail_times": 1,
            "retry_policy": "none",
            "queue": "priority",
        },
    )
    first, *later = response.json["task_ids"]

    # The chain's id is FAILURE within seconds (not PENDING for ever), naming step 1.
    last = sums.finished(response.json["task_id"], wait=10)
    assert last["status"] == "FAILURE"
    assert f"chain step {first} failed" in last["result"]
    assert "RetriesExhausted: gave up after 1 attempt" in last["result"]

    # Step 1 tells its own failure; every later step is FAILURE, none left PENDING.
    assert sums.result(first)["result"].startswith("RetriesExhausted: gave up after 1 attempt")
    for task_id in later:
        view = sums.result(task_id)
        assert view["status"] == "FAILURE" and first in view["result"]


def test_steps_retry_by_the_policy_and_the_chain_completes(
    client: FlaskClient, sums: Sums, fast_worker: Service
) -> None:
    policy = {**NO_RETRIES, "max_retries": 1}
    response = client.post(
        "/chains",
        json={"numbers": [1, 2, 3], "fail_times": 1, "retry_policy": policy, "queue": "priority"},
    )
    assert sums.finished(response.json["task_id"]) == {"status": "SUCCESS", "result": 6}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"numbers": [1]}, "numbers: Must hold at least 2 numbers; got 1"),
        ({"numbers": []}, "numbers: Must hold at least 2 numbers; got 0"),
        ({"numbers": "1,2"}, "numbers: Must be a list of numbers"),
        ({"numbers": [1, "2"]}, "numbers.1: Must be a JSON number"),
        ({"numbers": [1, True, None]}, "numbers.1: Must be a JSON number"),
        ({"numbers": [1, 2**63]}, "numbers.1: Must be between"),
        ({"numbers": list(range(1001))}, "numbers: Too many numbers: 1001; at most 1000"),
        ({}, "numbers: Missing data"),
        ({"numbers": [1, 2], "queue": "nowhere"}, "queue: Unknown queue"),
        ({"numbers": [1, 2], "fail_times": "1"}, "fail_times: Must be a JSON integer"),
    ],
)
def test_bad_chain_bodies_get_422_naming_the_field(
    client: FlaskClient, body: dict, fragment: str
) -> None:
    response = client.post("/chains", json=body)
    assert response.status_code == 422
    assert fragment in response.json["message"]
