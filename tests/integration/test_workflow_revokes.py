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
