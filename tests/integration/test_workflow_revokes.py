"""Revoking one task of a workflow ends the workflow clearly instead of leaving it PENDING.

Work goes to "priority", which has no consumer until each test starts one, so the revoke
always lands before the task could run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sums
from tests.support import Service, eventually

pytestmark = pytest.mark.integration


def revoke(client: FlaskClient, task_id: str) -> None:
    assert client.delete(f"/tasks/{task_id}").status_code == 202


def logged_failures(worker: Service, task_ids: list[str]) -> None:
    """Wait until the worker has logged each task's failure: Celery logs it once it has stored
    the failure and passed it on (to a chord, to later chain steps)."""
    eventually(
        lambda: all(f"[{task_id}] raised" in worker.log() for task_id in task_ids),
        timeout=10,
        what="the tasks to fail",
    )


def test_a_chain_with_a_revoked_step_ends_revoked_naming_it(
    client: FlaskClient, sums: Sums, start_worker: Callable[..., Service]
) -> None:
    chain = client.post("/chains", json={"numbers": [1, 2, 3, 4], "queue": "priority"}).json
    first, *later = chain["task_ids"]
    revoke(client, first)
    start_worker(("priority",), ADD_DELAY_SECONDS=0)

    last = sums.finished(chain["task_id"], wait=10)
    assert last["status"] == "REVOKED"
    assert f"chain step {first} was revoked" in last["result"]
    assert all(sums.result(task_id)["status"] == "REVOKED" for task_id in later)


def test_a_chord_with_a_revoked_member_fails_naming_it(
    client: FlaskClient, sums: Sums, start_worker: Callable[..., Service]
) -> None:
    pairs = [[i, i] for i in range(8)]
    chord = client.post("/chords", json={"pairs": pairs, "queue": "priority"}).json
    group_url = f"/groups/{chord['group_id']}"

    # Nothing consumes "priority" yet: the group waits, every result null.
    waiting = client.get(group_url).json
    assert waiting["status"] == "PENDING" and waiting["results"] == [None] * 8

    victim = chord["task_ids"][3]
    revoke(client, victim)
    start_worker(("priority",), ADD_DELAY_SECONDS=0)

    # The callback fails once every member is done, naming the revoked member.
    callback = sums.finished(chord["task_id"], wait=15)
    assert callback["status"] == "FAILURE"
    assert f"Dependency {victim} raised TaskRevokedError" in callback["result"]

    # The group: seven sums, one revoked member, so PARTIAL.
    group = eventually(lambda: (g := client.get(group_url).json)["status"] != "STARTED" and g)
    assert group["status"] == "PARTIAL"
    assert (group["completed"], group["failed"]) == (7, 1)
    assert group["results"] == [2 * i if i != 3 else None for i in range(8)]
    assert group["errors"][0]["task_id"] == victim and group["errors"][0]["index"] == 3


def test_a_revoked_chord_callback_stays_revoked_when_its_members_then_fail(
    client: FlaskClient, sums: Sums, start_worker: Callable[..., Service]
) -> None:
    body = {"pairs": [[1, 2]] * 3, "fail_times": 1, "retry_policy": "none", "queue": "priority"}
    chord = client.post("/chords", json=body).json
    revoke(client, chord["task_id"])
    assert sums.result(chord["task_id"])["status"] == "REVOKED"
    worker = start_worker(("priority",), ADD_DELAY_SECONDS=0)

    # The members fail, and the chord reports its error to the callback: the client was told
    # the callback is revoked, and it stays so.
    logged_failures(worker, chord["task_ids"])
    assert sums.result(chord["task_id"])["status"] == "REVOKED"


def test_a_revoked_last_chain_step_stays_revoked_when_an_earlier_step_fails(
    client: FlaskClient, sums: Sums, start_worker: Callable[..., Service]
) -> None:
    body = {"numbers": [1, 2, 3, 4], "fail_times": 1, "retry_policy": "none", "queue": "priority"}
    chain = client.post("/chains", json=body).json
    first, middle_id, last_id = chain["task_ids"]
    assert last_id == chain["task_id"]
    revoke(client, last_id)
    worker = start_worker(("priority",), ADD_DELAY_SECONDS=0)

    logged_failures(worker, [first])
    assert sums.result(first)["status"] == "FAILURE"
    middle = sums.result(middle_id)
    assert middle["status"] == "FAILURE" and f"chain step {first} failed" in middle["result"]
    assert sums.result(last_id)["status"] == "REVOKED"
