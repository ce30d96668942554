"""POST /chords: a group of adds and a callback totalling them, against real workers."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sums
from tests.support import Service, eventually

pytestmark = pytest.mark.integration


def submit(client: FlaskClient, **body: Any) -> dict[str, Any]:
    response = client.post("/chords", json=body)
    assert response.status_code == 202, response.json
    assert response.headers["Location"] == f"/result/{response.json['task_id']}"
    return response.json


def test_a_chord_of_1000_pairs_gives_the_total(
    client: FlaskClient, sums: Sums, fast_worker: Service
) -> None:
    pairs = [[i, -2 * i + 7] for i in range(1000)]
    chord = submit(client, pairs=pairs, queue="priority")
    assert len(chord["task_ids"]) == 1000

    assert sums.finished(chord["task_id"], wait=30) == {
        "status": "SUCCESS",
        "result": sum(a + b for a, b in pairs),
    }
    # The header is a group like any other.
    group = client.get(f"/groups/{chord['group_id']}").json
    assert group["status"] == "SUCCESS" and group["results"] == [a + b for a, b in pairs]


def test_a_float_total_adds_the_sums_left_to_right_in_request_order(
    client: FlaskClient, sums: Sums, fast_worker: Service
) -> None:
    # IEEE 754 addition depends on the order: 1e16 + 1.0 rounds back to 1e16, so the 1.0s
    # vanish only when they come after 1e16 and before -1e16, as the request lists them.
    pairs = [[1e16, 0], *[[0.5, 0.5]] * 20, [-1e16, 0]]
    chord = submit(client, pairs=pairs, queue="priority")
    assert sums.finished(chord["task_id"]) == {"status": "SUCCESS", "result": 0.0}


def test_the_callback_runs_on_the_requested_queue(
    client: FlaskClient, sums: Sums, worker: Service, fast_worker: Service
) -> None:
    chord = submit(client, pairs=[[1, 2], [3, 4]], queue="priority")
    assert sums.finished(chord["task_id"])["result"] == 10
    # The "priority" worker received the callback; the shared "default" one did not.
    line = f"sumflow.sum_all[{chord['task_id']}] received"
    eventually(lambda: line in fast_worker.log(), what="the callback in the priority log")
    assert line not in worker.log()


def test_a_chunked_chord_totals_every_chunk(
    client: FlaskClient, sums: Sums, fast_worker: Service
) -> None:
    pairs = [[i, 0.25] for i in range(5000)]
    chord = submit(client, pairs=pairs, chunk_size=128, queue="priority")
    assert len(chord["task_ids"]) == 40
    total = sums.finished(chord["task_id"], wait=30)
    assert total == {"status": "SUCCESS", "result": sum(a + b for a, b in pairs)}


def test_a_chord_with_failing_members_fails_naming_one(
    client: FlaskClient, sums: Sums, fast_worker: Service
) -> None:
    chord = submit(client, pairs=[[1, 2]] * 6, fail_times=1, retry_policy="none", queue="priority")
    # The callback ends FAILURE within seconds (no hang), naming a member that failed.
    callback = sums.finished(chord["task_id"], wait=10)
    assert callback["status"] == "FAILURE"
    assert callback["result"].startswith("ChordError: Dependency ")
    assert "RetriesExhausted" in callback["result"]
    named = callback["result"].split()[2]
    assert named in chord["task_ids"]
    assert client.get(f"/groups/{chord['group_id']}").json["status"] == "FAILURE"


def test_the_default_route_sends_the_callback_to_the_default_queue(
    client: FlaskClient, sums: Sums, worker: Service
) -> None:
    chord = submit(client, pairs=[[1, 1], [2, 2]])
    assert sums.finished(chord["task_id"], wait=10) == {"status": "SUCCESS", "result": 6}
    line = f"sumflow.sum_all[{chord['task_id']}] received"
    eventually(lambda: line in worker.log(), what="the callback in the default worker's log")
