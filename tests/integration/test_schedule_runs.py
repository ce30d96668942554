"""Schedules run by a real beat and a real worker: runs, sums, changes, disabling, deleting.

One beat serves the whole module; each test uses its own schedule and deletes it afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from tests.schedule_support import Schedules, beat_ticks, sent_count, start_beat, when
from tests.support import Service, eventually, logged

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def beat(redis_url: str, logs_dir: Path) -> Iterator[Service]:
    service = start_beat(redis_url, logs_dir)
    yield service
    service.stop()


@pytest.fixture
def schedules(client: FlaskClient, beat: Service, worker: Service) -> Iterator[Schedules]:
    helper = Schedules(client)
    yield helper
    helper.cleanup()


def test_every_second_runs_about_once_a_second_with_the_right_sum(
    client: FlaskClient, schedules: Schedules, beat: Service
) -> None:
    # A new entry takes effect at the beat's next tick: no restart, no waiting a minute.
    schedules.create("each-second", a=2, b=3, every=1)
    schedules.wait_for_runs("each-second", 2, timeout=10)

    # Over a 5 s window, about five runs (counted generously: the assertion is the rate).
    first = sent_count(beat, "each-second")
    time.sleep(5)
    sent = sent_count(beat, "each-second") - first
    assert 3 <= sent <= 7, sent

    # Every run is in the history, newest first, and computed 2 + 3.
    runs = schedules.wait_for_runs("each-second", first + sent)
    times = [when(run["run_at"]) for run in runs]
    assert times == sorted(times, reverse=True)
    finished = [run for run in runs if run["status"] not in ("PENDING", "STARTED")]
    assert {(run["status"], run["result"]) for run in finished} == {("SUCCESS", 5)}

    # Each run is an ordinary task: GET /result/<id> answers for it.
    assert client.get(f"/result/{runs[-1]['task_id']}").json == {"status": "SUCCESS", "result": 5}

    # The entry counts its runs and knows the last one.
    entry = schedules.get("each-second")
    assert entry["total_run_count"] >= len(runs)
    newest = when(schedules.runs("each-second")[0]["run_at"])
    assert abs((when(entry["last_run_at"]) - newest).total_seconds()) < 1.5


def test_changes_reach_the_running_beat(schedules: Schedules, beat: Service) -> None:
    # redbeat#221/#290: an hourly entry changed to every second runs within a few seconds,
    # with no beat restart. Not before: in two ticks that have seen it, it did not run.
    schedules.create("sped-up", a=1, b=1, every=3600)
    with beat_ticks(schedules, beat) as ticks:
        ticks(2)
    assert sent_count(beat, "sped-up") == 0
    assert schedules.runs("sped-up") == []
    schedules.patch("sped-up", every=1)
    schedules.wait_for_runs("sped-up", 2, timeout=10)

    # New operands are used from the next run on.
    schedules.patch("sped-up", a=10, b=3)
    eventually(
        lambda: any(run["result"] == 13 for run in schedules.finished_runs("sped-up")),
        timeout=10,
        what="a run with the new operands",
    )


def test_a_disabled_entry_does_not_run(schedules: Schedules, beat: Service) -> None:
    # Created disabled: never runs, in three ticks that would each have found it due.
    schedules.create("dormant", every=1, enabled=False)
    with beat_ticks(schedules, beat) as ticks:
        ticks(3)
    assert sent_count(beat, "dormant") == 0

    # Enabled: runs. Disabled again: stops, once a run the beat had loaded already is out.
    schedules.patch("dormant", enabled=True)
    schedules.wait_for_runs("dormant", 2, timeout=10)
    schedules.patch("dormant", enabled=False)
    with beat_ticks(schedules, beat) as ticks:
        ticks(1)
        stopped_at = sent_count(beat, "dormant")
        ticks(4)
    assert sent_count(beat, "dormant") == stopped_at
    assert schedules.get("dormant")["next_run_at"] is None


def test_a_deleted_entry_never_runs_again(
    client: FlaskClient, schedules: Schedules, beat: Service, redis_url: str
) -> None:
    schedules.create("doomed", every=1)
    schedules.wait_for_runs("doomed", 2, timeout=10)
    schedules.delete("doomed")
    assert client.get("/schedules/doomed").status_code == 404
    assert client.get("/schedules/doomed/runs").status_code == 404
    with beat_ticks(schedules, beat) as ticks:
        ticks(1)  # a run the beat had loaded before the delete is out
        deleted_at = sent_count(beat, "doomed")
        ticks(4)
    assert sent_count(beat, "doomed") == deleted_at
    # Nothing of it is left in Redis, even if a run was being sent as it was deleted.
    raw = redis.Redis.from_url(redis_url)
    assert not raw.exists("sumflow:redbeat:doomed", "sumflow:schedule-runs:doomed")


def test_runs_go_to_the_entry_queue(
    client: FlaskClient, schedules: Schedules, start_worker: Callable[..., Service]
) -> None:
    # The shared worker consumes only "default": runs on "priority" wait for a worker there.
    schedules.create("prioritised", a=4, b=4, every=1, queue="priority")
    eventually(lambda: len(schedules.runs("prioritised")) >= 2, timeout=10, what="two runs")

    # A run is recorded as it is sent, so its message may reach the queue a moment later.
    def waiting() -> int:
        return next(
            q["messages"] for q in client.get("/queues").json["queues"] if q["name"] == "priority"
        )

    eventually(lambda: waiting() >= 2, what="two runs waiting in 'priority'")
    assert {run["status"] for run in schedules.runs("prioritised")} == {"PENDING"}

    # A worker for "priority" runs them.
    start_worker(("priority",))
    schedules.wait_for_runs("prioritised", 2, timeout=15)
    schedules.patch("prioritised", enabled=False)
    assert {run["result"] for run in schedules.finished_runs("prioritised")} == {8}


def test_failed_runs_show_their_error(schedules: Schedules) -> None:
    schedules.create("flaky", every=1, fail_times=1, retry_policy="none")
    runs = schedules.wait_for_runs("flaky", 1, timeout=10)
    failed = next(run for run in runs if run["status"] == "FAILURE")
    assert failed["result"].startswith("RetriesExhausted: gave up after 1 attempt")


def test_runs_left_waiting_past_expires_after_expire_unrun(
    client: FlaskClient,
    schedules: Schedules,
    beat: Service,
    start_worker: Callable[..., Service],
) -> None:
    # Two schedules every second on "priority", which no worker consumes yet: their runs pile
    # up. Only one of them lets a run wait at most a second.
    stale_entry = schedules.create("stale", a=1, b=2, every=1, queue="priority", expires_after=1)
    patient_entry = schedules.create("patient", a=3, b=4, every=1, queue="priority")
    assert (stale_entry["expires_after"], patient_entry["expires_after"]) == (1, None)
    eventually(
        lambda: len(schedules.runs("stale")) >= 2 and len(schedules.runs("patient")) >= 2,
        timeout=15,
        what="two runs of each schedule waiting",
    )

    # Pause both, and let a run the beat had loaded go out: the runs now waiting are all.
    schedules.patch("stale", enabled=False)
    schedules.patch("patient", enabled=False)
    with beat_ticks(schedules, beat) as ticks:
        ticks(1)
    stale, patient = schedules.runs("stale"), schedules.runs("patient")
    assert {run["status"] for run in stale + patient} == {"PENDING"}  # nothing ran them

    # Each stale run expired a second after it was sent (by the beat's clock, this machine's,
    # as the worker's is); wait until the newest has, then bring a worker.
    expired_by = max(when(run["run_at"]) for run in stale) + timedelta(seconds=1)
    time.sleep(max(0.0, (expired_by - datetime.now(UTC)).total_seconds()) + 0.1)
    worker = start_worker(("priority",))

    def done(name: str) -> list[dict]:
        runs = schedules.runs(name)
        return runs if all(r["status"] in ("SUCCESS", "FAILURE", "REVOKED") for r in runs) else []

    eventually(lambda: done("stale") and done("patient"), timeout=30, what="every run to end")

    # Every run without expiry ran, late: one per interval missed.
    assert [(r["task_id"], r["status"], r["result"]) for r in schedules.runs("patient")] == [
        (r["task_id"], "SUCCESS", 7) for r in patient
    ]
    # Every stale one was dropped unrun: REVOKED, saying it expired, and never added.
    prefix = "TaskRevokedError: expired: not started by its expiry time, "
    ended = schedules.runs("stale")
    assert [r["task_id"] for r in ended] == [r["task_id"] for r in stale]
    assert {r["status"] for r in ended} == {"REVOKED"}
    assert all(r["result"].startswith(prefix) for r in ended), ended
    assert client.get(f"/result/{stale[0]['task_id']}").json == {
        "status": "REVOKED",
        "result": ended[0]["result"],
    }
    # Each patient run logged its end (after storing its SUCCESS: wait for the lines).
    log = logged(worker.log, *(f"sumflow.add[{run['task_id']}] succeeded" for run in patient))
    for run in stale:
        assert f"Discarding revoked task: sumflow.add[{run['task_id']}]" in log
        assert f"sumflow.add[{run['task_id']}] succeeded" not in log


def test_runs_still_waiting_when_their_schedule_is_deleted_never_run(
    client: FlaskClient,
    schedules: Schedules,
    beat: Service,
    start_worker: Callable[..., Service],
) -> None:
    """DELETE: "it never runs again". Runs already sent, waiting for a worker (down, or none
    on that queue), used to run all the same once one came: an hour's outage under an
    every-second schedule left 3,600 adds to run for a schedule that no longer existed,
    with no history left to show them."""
    schedules.create("gone", a=1, b=1, every=1, queue="priority")  # no worker there yet
    eventually(lambda: len(schedules.runs("gone")) >= 2, timeout=15, what="two runs waiting")
    waiting = [run["task_id"] for run in schedules.runs("gone")]
    schedules.delete("gone")
    schedules.names.remove("gone")

    # A new schedule under the same name is another schedule: its runs run, the old ones not.
    schedules.create("gone", a=2, b=2, every=1, queue="priority")
    eventually(lambda: len(schedules.runs("gone")) >= 1, timeout=15, what="a run of the new one")
    schedules.patch("gone", enabled=False)  # its runs already sent still run (README)
    with beat_ticks(schedules, beat) as ticks:
        ticks(1)  # a run the beat had loaded before the PATCH is out
    new = [run["task_id"] for run in schedules.runs("gone")]

    worker = start_worker(("priority",))
    eventually(
        lambda: (
            {r["status"] for r in schedules.runs("gone")} == {"SUCCESS"}
            and all(client.get(f"/result/{i}").json["status"] == "REVOKED" for i in waiting)
        ),
        timeout=30,
        what="the new schedule's runs to succeed and the old ones to be dropped",
    )
    assert [(r["task_id"], r["result"]) for r in schedules.runs("gone")] == [(i, 4) for i in new]
    for task_id in waiting:
        assert client.get(f"/result/{task_id}").json == {
            "status": "REVOKED",
            "result": "TaskRevokedError: not run: its schedule 'gone' was deleted",
        }
        assert f"sumflow.add[{task_id}] succeeded" not in worker.log()


def test_a_run_between_retries_when_its_schedule_is_deleted_is_not_retried(
    client: FlaskClient, schedules: Schedules
) -> None:
    """A run whose first attempt failed waits out its retry delay. Deleted then, its schedule
    must not run again, and the run's message must not say "not run": it ran, and failed."""
    policy = {"max_retries": 2, "backoff": 3, "backoff_max": 3, "jitter": False}
    schedules.create("retrying", every=1, fail_times=2, retry_policy=policy)
    first = eventually(
        lambda: next((r for r in schedules.runs("retrying") if r["status"] == "RETRY"), None),
        timeout=15,
        what="a run waiting for its retry",
    )
    schedules.delete("retrying")  # within the 3 s before its retry
    schedules.names.remove("retrying")

    def ended() -> dict | None:
        answer = client.get(f"/result/{first['task_id']}").json
        return None if answer["status"] in ("PENDING", "STARTED", "RETRY") else answer

    assert eventually(ended, timeout=15, what="the run's retry to end") == {
        "status": "REVOKED",
        "result": "TaskRevokedError: not retried after 1 failed attempt: "
        "its schedule 'retrying' was deleted",
    }
