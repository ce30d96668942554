"""Beat processes coming and going: RedBeat's lock keeps runs single, entries outlive beats.

These tests start their own beats (with a short lock timeout, so a takeover is quick).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.schedule_support import ACQUIRED, Schedules, sent_count, start_beat
from tests.support import Service, eventually

pytestmark = pytest.mark.integration

LOCK_TIMEOUT = 3


class Beats:
    def __init__(self, redis_url: str, logs_dir: Path) -> None:
        self.redis_url, self.logs_dir = redis_url, logs_dir
        self.started: list[Service] = []

    def start(self, wait: bool = True, **env: Any) -> Service:
        beat = start_beat(
            self.redis_url,
            self.logs_dir,
            wait=wait,
            BEAT_LOCK_TIMEOUT_SECONDS=LOCK_TIMEOUT,
            **env,
        )
        self.started.append(beat)
        return beat

    def stop_all(self) -> None:
        for beat in self.started:
            beat.stop()


@pytest.fixture
def beats(redis_url: str, logs_dir: Path) -> Iterator[Beats]:
    started = Beats(redis_url, logs_dir)
    yield started
    started.stop_all()


@pytest.fixture
def schedules(client: FlaskClient, worker: Service) -> Iterator[Schedules]:
    helper = Schedules(client)
    yield helper
    helper.cleanup()


def test_a_second_beat_does_not_double_the_runs(beats: Beats, schedules: Schedules) -> None:
    first = beats.start()
    schedules.create("single", every=1)
    schedules.wait_for_runs("single", 1, timeout=10)

    # A second beat starts and waits for the lock the first one holds.
    second = beats.start(wait=False)
    eventually(lambda: "beat: Starting..." in second.log(), timeout=30, what="second beat")

    # Over 6 s both beats together send about six runs, not twelve; all from the first.
    def total() -> int:
        return sent_count(first, "single") + sent_count(second, "single")

    before = total()
    time.sleep(6)
    sent = total() - before
    assert 4 <= sent <= 8, sent
    assert sent_count(second, "single") == 0
    assert ACQUIRED not in second.log()

    # The first beat dies without releasing the lock: the second takes over once it expires.
    first.kill()
    eventually(
        lambda: ACQUIRED in second.log(), timeout=LOCK_TIMEOUT + 10, what="second beat to lead"
    )
    eventually(lambda: sent_count(second, "single") >= 2, timeout=10, what="runs to resume")


def test_entries_survive_a_beat_restart(beats: Beats, schedules: Schedules) -> None:
    beat = beats.start()
    schedules.create("durable", a=20, b=22, every=1)
    schedules.wait_for_runs("durable", 2, timeout=10)

    # No beat: no runs, but the entry and its count stay.
    beat.stop()
    count = schedules.get("durable")["total_run_count"]
    time.sleep(2)
    assert schedules.get("durable")["total_run_count"] == count

    # A new beat carries on from there.
    restarted = beats.start()
    eventually(lambda: sent_count(restarted, "durable") >= 2, timeout=10, what="runs to resume")
    entry = schedules.get("durable")
    assert entry["total_run_count"] >= count + 2
    assert (entry["a"], entry["b"], entry["every"]) == (20, 22, 1)
    runs = schedules.wait_for_runs("durable", count + 2)
    assert {run["result"] for run in runs if run["status"] == "SUCCESS"} == {42}


def test_a_run_the_beat_cannot_route_is_a_failed_run_saying_why(
    beats: Beats, schedules: Schedules
) -> None:
    """An operator retired the "priority" queue from the beat's TASK_QUEUES, and a schedule
    still names it. The runs used to fail in the beat's log only, with a traceback each time,
    while the schedule's run count went up and its history stayed empty."""
    beat = beats.start(TASK_QUEUES="default")
    schedules.create("retired", every=1, queue="priority")
    schedules.wait_for_runs("retired", 2, timeout=10)

    runs = schedules.runs("retired")
    assert {run["status"] for run in runs} == {"FAILURE"}
    assert runs[0]["result"] == (
        "RunNotSent: not sent: the beat does not know queue 'priority' (TASK_QUEUES); "
        "configure it there, or PATCH the schedule's queue"
    )
    assert schedules.get("retired")["total_run_count"] >= len(runs)
    assert "Traceback" not in beat.log()

    # Put back on a queue the beat knows, it runs again.
    schedules.patch("retired", queue="default")
    eventually(
        lambda: schedules.runs("retired")[0]["status"] == "SUCCESS",
        timeout=10,
        what="a run on the default queue to succeed",
    )
