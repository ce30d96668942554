"""Beat processes coming and going: RedBeat's lock keeps runs single, entries outlive beats.

These tests start their own beats (with a short lock timeout, so a takeover is quick).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from schedules.store import ScheduleStore
from tests.schedule_support import ACQUIRED, STANDING_BY, Schedules, sent_count, start_beat
from tests.support import AppBuilder, Service, eventually

pytestmark = pytest.mark.integration

LOCK_TIMEOUT = 3


class Beats:
    def __init__(self, redis_url: str, logs_dir: Path) -> None:
        self.redis_url, self.logs_dir = redis_url, logs_dir
        self.started: list[Service] = []

    def start(self, wait: bool = True, **options: Any) -> Service:
        options.setdefault("BEAT_LOCK_TIMEOUT_SECONDS", LOCK_TIMEOUT)
        beat = start_beat(self.redis_url, self.logs_dir, wait=wait, **options)
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

    # A second beat starts, waits for the lock the first one holds, and says so: an operator
    # reading its log sees a standby, not a beat that hangs after "Starting...".
    second = beats.start(wait=False)
    eventually(lambda: STANDING_BY in second.log(), timeout=30, what="second beat to stand by")

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


def test_a_standby_takes_over_as_soon_as_the_active_beat_stops_cleanly(
    beats: Beats, schedules: Schedules
) -> None:
    """SIGTERM releases the lock as the beat stops, so the standby need not wait for it to
    expire. Both beats here hold the lock for a minute: a takeover sooner is that release."""
    held = {"BEAT_LOCK_TIMEOUT_SECONDS": 60}
    first = beats.start(**held)
    second = beats.start(wait=False, **held)
    eventually(lambda: STANDING_BY in second.log(), timeout=30, what="second beat to stand by")
    schedules.create("handed-over", every=1)
    schedules.wait_for_runs("handed-over", 1, timeout=10)

    first.stop()
    eventually(lambda: ACQUIRED in second.log(), what="second beat to lead")
    eventually(lambda: sent_count(second, "handed-over") >= 1, timeout=10, what="runs to resume")


def test_the_beat_command_without_a_scheduler_option_runs_the_schedules(
    beats: Beats, schedules: Schedules, tmp_path: Path
) -> None:
    """``celery -A workflows beat`` without ``-S redbeat.RedBeatScheduler``. Celery's own
    default scheduler keeps a local file, never sees sumflow's schedules, and showed only as
    "beat down" in /health."""
    beat = beats.start(scheduler=None, cwd=tmp_path)  # waits for "beat: Acquired lock"
    # RedBeat's scheduler, given the resilient behaviour: it is that one which logs the lock.
    assert ". scheduler -> redbeat.schedulers.RedBeatScheduler" in beat.log()

    schedules.create("plain-command", a=2, b=3, every=1)
    runs = schedules.wait_for_runs("plain-command", 1, timeout=10)
    assert sent_count(beat, "plain-command") >= 1
    assert {(run["status"], run["result"]) for run in runs if run["status"] == "SUCCESS"} == {
        ("SUCCESS", 5)
    }
    # No local schedule file (celerybeat-schedule) in the directory it was started from.
    assert list(tmp_path.iterdir()) == []


def test_a_beat_given_another_scheduler_says_it_will_not_run_the_schedules(
    beats: Beats, tmp_path: Path
) -> None:
    """``-S celery.beat.PersistentScheduler``: Celery's own scheduler never reads the entries
    in Redis and has no lock. The beat says so in one warning; it used to log a traceback
    from RedBeat's lock receiver ("no attribute 'lock_key'") and nothing that explained it."""
    beat = beats.start(scheduler="celery.beat.PersistentScheduler", wait=False, cwd=tmp_path)
    eventually(
        lambda: "beat's scheduler is" in beat.log() or "Traceback" in beat.log(),
        timeout=30,
        what="the beat's beat_init receivers to run",
    )
    log = beat.log()
    assert "sumflow: this beat's scheduler is PersistentScheduler, which does not run" in log
    assert "start the beat without -S, or with -S redbeat.RedBeatScheduler" in log
    assert "Traceback" not in log
    assert "lock_key" not in log


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


def test_a_beat_that_lost_the_lock_mid_tick_does_not_send_the_new_leaders_runs(
    quiet_redis_url: str, logs_dir: Path, build_app: AppBuilder
) -> None:
    """A beat loads every due entry at the start of a tick, then sends them one by one. If its
    lock expires before it is done (a tick of many entries longer than the lock timeout, or a
    paused beat), the standby takes over and sends the same due entries. The first beat used
    to go on sending its copies too: 1000 schedules on one crontab, two beats and a 3 s lock
    sent 522 of them twice. Its own save of each entry's next run was already refused, since
    the new leader's save had changed it; now that refusal means the run is not sent."""
    client = build_app({"redis_url": quiet_redis_url, "rate_limit": ""}).test_client()
    raw = redis.Redis.from_url(quiet_redis_url, decode_responses=True)
    count = 400
    names = [f"overdue-{i:03d}" for i in range(count)]
    # Hourly schedules whose last run was two hours ago: each is due once, now, and not again
    # for an hour, so every run past one per schedule is a double.
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    for name in names:
        body = {"name": name, "a": 1, "b": 1, "every": 3600}
        assert client.post("/schedules", json=body).status_code == 201
    with raw.pipeline(transaction=False) as pipe:
        for name in names:
            key = f"sumflow:redbeat:{name}"
            pipe.hset(key, "meta", ScheduleStore._meta(long_ago, 0))
            pipe.zadd("sumflow:redbeat::schedule", {key: long_ago.timestamp()})
        pipe.execute()

    beats = Beats(quiet_redis_url, logs_dir)
    try:
        first = beats.start()
        # Paused mid-tick, after its first few runs: a VM frozen, a process swapped out.
        eventually(lambda: "Sending due task overdue-" in first.log(), interval=0.005)
        os.kill(first.pid, signal.SIGSTOP)
        sent_first = first.log().count("Sending due task overdue-")
        assert sent_first < count, "the first beat finished its tick before it was paused"

        second = beats.start(wait=False)
        eventually(lambda: ACQUIRED in second.log(), timeout=LOCK_TIMEOUT + 15, what="takeover")
        # Each run sent (or claimed by the paused beat) moved its entry an hour ahead.
        eventually(
            lambda: raw.zcount("sumflow:redbeat::schedule", 0, time.time()) == 0,
            timeout=30,
            what="the second beat to send the rest",
        )

        # The first beat wakes up in the middle of its old tick, and carries on from there;
        # at its next tick it finds the lock gone and stands by.
        os.kill(first.pid, signal.SIGCONT)
        eventually(lambda: "beat: lost the lock" in first.log(), timeout=30, what="stand-by")

        # A beat moves an entry ahead, then logs and records its run and sends it: the last
        # run's record may follow the count above by a moment.
        def recorded() -> dict[str, int] | None:
            """Each schedule's recorded runs, once every schedule has some."""
            with raw.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.llen(f"sumflow:schedule-runs:{name}")
                runs = dict(zip(names, pipe.execute(), strict=True))
            return runs if all(runs.values()) else None

        histories = eventually(recorded, what="a run of every schedule recorded")
        doubled = sorted(name for name, runs in histories.items() if runs != 1)
        assert doubled == [], f"{len(doubled)} schedules ran other than once: {doubled[:5]}"
        sent = first.log().count("Sending due task overdue-")
        sent += second.log().count("Sending due task overdue-")
        assert sent == count
    finally:
        for beat in beats.started:
            if beat.process is not None and beat.process.poll() is None:
                os.kill(beat.pid, signal.SIGCONT)  # a paused beat would not hear SIGTERM
        beats.stop_all()
        for name in names:
            client.delete(f"/schedules/{name}")
