"""DELETE /tasks/<id>: revoked tasks end REVOKED, even across a worker restart."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sums
from tests.support import Service, eventually

pytestmark = pytest.mark.integration


def test_revoke_a_waiting_task(client: FlaskClient, sums: Sums, worker: Service) -> None:
    task_id = sums.submit(1, 2, countdown=1)
    response = client.delete(f"/tasks/{task_id}")
    assert response.status_code == 202
    revoked = {"status": "REVOKED", "result": "TaskRevokedError: revoked"}
    assert sums.result(task_id) == revoked
    # When the countdown ends, the worker holding the message marks it revoked itself, in
    # Celery's words: the answer must read the same before and after.
    eventually(
        lambda: f"sumflow.add[{task_id}] REVOKED" in worker.log(),
        what="the worker to discard the revoked add",
    )
    assert sums.result(task_id) == revoked


def test_revoking_a_finished_task_is_409(client: FlaskClient, sums: Sums, worker: Service) -> None:
    task_id = sums.submit(1, 2)
    sums.finished(task_id)
    response = client.delete(f"/tasks/{task_id}")
    assert response.status_code == 409
    assert "already finished with SUCCESS" in response.json["message"]


def test_revoking_an_unknown_task_is_404(client: FlaskClient) -> None:
    assert client.delete("/tasks/no-such-task").status_code == 404


def test_a_running_task_needs_terminate(
    client: FlaskClient, sums: Sums, start_worker: Callable[..., Service]
) -> None:
    start_worker(("priority",), ADD_DELAY_SECONDS=30)
    task_id = sums.submit(1, 2, queue="priority")
    eventually(lambda: sums.result(task_id)["status"] == "STARTED", what="task to start")

    refused = client.delete(f"/tasks/{task_id}")
    assert refused.status_code == 409
    assert "terminate=true" in refused.json["message"]

    assert client.delete(f"/tasks/{task_id}?terminate=true").status_code == 202
    body = sums.result(task_id, wait=10)
    assert body["status"] == "REVOKED"


def test_a_revoke_survives_a_worker_that_was_not_running(
    client: FlaskClient, sums: Sums, start_worker: Callable[..., Service]
) -> None:
    # Queue work while no worker consumes the queue, revoke it, then start a fresh worker:
    # the worker learns the revoke from Redis and discards the message.
    start = start_worker
    task_id = sums.submit(4, 4, queue="priority")
    kept_id = sums.submit(5, 5, queue="priority")
    assert client.delete(f"/tasks/{task_id}").status_code == 202
    fresh = start(("priority",))
    assert sums.finished(kept_id) == {"status": "SUCCESS", "result": 10}
    assert sums.result(task_id)["status"] == "REVOKED"
    # The API wrote REVOKED itself: the worker's log shows it discarded the message.
    eventually(
        lambda: f"sumflow.add[{task_id}] REVOKED" in fresh.log(),
        what="the new worker to discard the revoked add",
    )
    assert f"sumflow.add[{task_id}] succeeded" not in fresh.log()
