"""Named queues: work goes where it is sent, waits while nobody consumes it, and is counted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sums
from tests.support import Service, eventually

pytestmark = pytest.mark.integration


def queue(client: FlaskClient, name: str) -> dict:
    queues = client.get("/queues").json["queues"]
    return next(q for q in queues if q["name"] == name)


def test_every_configured_queue_is_listed(client: FlaskClient, worker: Service) -> None:
    names = [q["name"] for q in client.get("/queues").json["queues"]]
    assert names == ["default", "priority"]
    eventually(
        lambda: any(w.startswith(f"{worker.name}@") for w in queue(client, "default")["workers"]),
        what="the shared worker to be listed on 'default'",
    )


def test_work_waits_in_an_unserved_queue_until_a_worker_comes(
    client: FlaskClient, sums: Sums, start_worker: Callable[..., Service]
) -> None:
    before = queue(client, "priority")["messages"]
    task_id = sums.submit(20, 22, queue="priority")

    # Nobody consumes "priority": the task waits, counted in /queues.
    assert sums.result(task_id, wait=1) == {"status": "PENDING", "result": None}
    assert queue(client, "priority")["messages"] == before + 1

    # A worker for "priority" alone picks it up.
    specialist = start_worker(("priority",))
    assert sums.finished(task_id) == {"status": "SUCCESS", "result": 42}
    assert task_id in specialist.log()
    eventually(
        lambda: any(
            w.startswith(f"{specialist.name}@") for w in queue(client, "priority")["workers"]
        ),
        what="the priority worker to be listed",
    )


def test_default_routing_never_reaches_a_specialist(
    sums: Sums, worker: Service, start_worker: Callable[..., Service]
) -> None:
    specialist = start_worker(("priority",))
    routed = sums.submit(1, 1, queue="priority")
    unrouted = sums.submit(2, 2)
    assert sums.finished(routed)["result"] == 2
    assert sums.finished(unrouted)["result"] == 4
    assert routed in specialist.log() and unrouted not in specialist.log()
    assert unrouted in worker.log()
