"""Faults on purpose: killed pool processes, killed workers, Redis restarts with work queued.

Each test runs its own Redis (with AOF, as `make run` does) and its own workers, so that
killing things cannot disturb the rest of the suite. Workers and apps share a short
visibility timeout, so abandoned messages come back within seconds, not the default minutes.
"""

from __future__ import annotations

import gc
import json
import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, chord, states
from celery.result import AsyncResult
from flask import Flask

from config.redis_server import RedisServer
from tests.conftest import Sums
from tests.crashing_tasks import (
    ADD_THEN_DIE_SENDING_CALLBACK,
    CRASHING_TASKS,
    KILL_OWN_PROCESS,
    STORE_THEN_DIE,
)
from tests.support import AppBuilder, Service, eventually, logged, wait_for_worker
from workflows.canvas_tasks import SUM_ALL_TASK
from workflows.deliveries import deliveries_key
from workflows.registry import mark_issued
from workflows.tasks import ADD_TASK

pytestmark = pytest.mark.integration

#: Seconds before an unacknowledged message is handed to another worker, in these tests.
VISIBILITY_TIMEOUT = 5

#: A log line in the text format (config.logging_config.TEXT_FORMAT), as Celery writes it too:
#: "2026-01-01 00:00:00,000 [4242] [INFO] celery.apps.worker: ...".
TEXT_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d [\d:,]+ \[\d+\] \[\w+\] ")


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(data_dir=tmp_path / "redis").start()
    yield server
    # Celery's result objects unsubscribe from their channel when collected. Collect this
    # test's now, while its Redis is up: collected later, each would block whichever test
    # is running for Celery's 20 reconnect attempts to a Redis that is gone.
    gc.collect()
    server.stop()


@pytest.fixture
def fault_app(aof_redis: RedisServer, build_app: AppBuilder) -> Flask:
    return build_app(
        {
            "redis_url": aof_redis.url,
            "visibility_timeout_seconds": VISIBILITY_TIMEOUT,
            # The app's own check: at most half the visibility timeout per add.
            "add_delay_seconds": VISIBILITY_TIMEOUT / 2,
        }
    )


@pytest.fixture
def sums(fault_app: Flask) -> Sums:
    return Sums(fault_app.test_client())


@pytest.fixture
def spawn(
    fault_app: Flask, aof_redis: RedisServer, start_worker: Callable[..., Service]
) -> Callable[..., Service]:
    """Start a worker on this test's Redis, with the test's visibility timeout."""

    def spawn(delay: float, concurrency: int = 2, wait: bool = True, **env: Any) -> Service:
        worker = start_worker(
            ("default",),
            url=aof_redis.url,
            concurrency=concurrency,
            include=(CRASHING_TASKS,),
            ADD_DELAY_SECONDS=delay,
            VISIBILITY_TIMEOUT_SECONDS=VISIBILITY_TIMEOUT,
            **env,
        )
        if wait:
            wait_for_worker(fault_app.extensions["celery"], worker.name)  # type: ignore[attr-defined]
        return worker

    return spawn


def unacked(app: Flask) -> int:
    """Messages delivered to a worker and not yet acknowledged (kombu's Redis bookkeeping)."""
    return int(app.extensions["sumflow"].redis.hlen("unacked"))


def held(app: Flask) -> set[str]:
    """The task ids of those messages (each kept as ``[message, exchange, routing key]``)."""
    kept = app.extensions["sumflow"].redis.hvals("unacked")
    return {json.loads(entry)[0]["headers"]["id"] for entry in kept}


def held_attempts(app: Flask, task_id: str) -> list[int]:
    """The attempt (Celery's ``retries`` header) of each held message of ``task_id``."""
    kept = app.extensions["sumflow"].redis.hvals("unacked")
    headers = [json.loads(entry)[0]["headers"] for entry in kept]
    return sorted(h["retries"] for h in headers if h["id"] == task_id)


def test_a_pool_process_killed_mid_task_is_redelivered_and_succeeds(
    sums: Sums, spawn: Callable[..., Service]
) -> None:
    worker = spawn(delay=2, concurrency=1, LOG_FORMAT="json")
    task_id = sums.submit(20, 22)
    eventually(lambda: sums.result(task_id)["status"] == "STARTED", what="the add to start")

    # The pool process running the add dies without a word (OOM killer, segfault...).
    children = worker.children()
    assert children, "the worker has no pool process"
    for pid in children:
        os.kill(pid, signal.SIGKILL)

    # The worker requeues the message (task_reject_on_worker_lost) and runs it again.
    assert sums.finished(task_id, wait=20) == {"status": "SUCCESS", "result": 42}
    # Logged, and as JSON like every other log line (billiard's logger has its own handler).
    lost = [line for line in worker.log().splitlines() if "exited with 'signal 9" in line]
    assert lost, "the pool process's death was not logged"
    assert json.loads(lost[0])["level"] == "ERROR"
    assert not [line for line in worker.log().splitlines() if TEXT_LOG_LINE.match(line)]
    # The task's part is one line that names it: Celery's own named no task ("Job: 2") and
    # carried billiard's traceback, which says nothing more.
    about_task = [json.loads(line) for line in worker.log().splitlines() if task_id in line]
    requeued = [entry for entry in about_task if "pool process died" in entry["message"]]
    assert [(e["level"], e["task_id"], e["queue"]) for e in requeued] == [
        ("WARNING", task_id, "default")
    ]
    assert requeued[0]["message"].startswith(f"task sumflow.add[{task_id}] requeued: ")
    assert "signal 9 (SIGKILL)" in requeued[0]["message"]
    assert "exc_info" not in requeued[0]
    assert "Task handler raised error" not in worker.log()


def test_a_worker_stopped_as_supervisors_stop_it_finishes_its_running_add(
    sums: Sums, spawn: Callable[..., Service]
) -> None:
    """honcho (make run's Ctrl-C) sends SIGTERM to the worker's whole process group."""
    worker = spawn(delay=2, concurrency=1)
    task_id = sums.submit(20, 22)
    eventually(lambda: sums.result(task_id)["status"] == "STARTED", what="the add to start")

    assert worker.process is not None
    os.killpg(worker.process.pid, signal.SIGTERM)

    # Warm shutdown: the running add finishes, then the worker exits cleanly. No other worker
    # runs, so a killed add would have stayed STARTED.
    assert worker.process.wait(timeout=20) == 0
    assert sums.result(task_id) == {"status": "SUCCESS", "result": 42}
    assert "exited with 'signal 15" not in worker.log()


def test_a_rolling_worker_restart_runs_every_add_once(
    fault_app: Flask, sums: Sums, spawn: Callable[..., Service]
) -> None:
    """A deploy stops the old worker with SIGTERM while it runs an add, holds another for its
    countdown, and more wait in the queue; a new worker takes over. The old one must finish
    what it runs and put back what it only holds as it stops, not leave it for the visibility
    timeout, and not put back what it ran: kombu restores every message its channel still
    holds when it closes, so one restored while it ran would run twice."""
    old = spawn(delay=2, concurrency=1)
    # Held first: a worker whose one process is busy takes no message, a countdown add included.
    held = sums.submit(1, 2, countdown=VISIBILITY_TIMEOUT / 2)
    eventually(lambda: unacked(fault_app) == 1, what="the old worker to hold the countdown add")
    running = sums.submit(20, 22)
    eventually(lambda: sums.result(running)["status"] == "STARTED", what="the add to start")
    queued = sums.submit(3, 4)

    assert old.process is not None
    old.process.send_signal(signal.SIGTERM)
    assert old.process.wait(timeout=20) == 0
    # No other worker runs: the add was finished by the old one, and nothing it held waits
    # for the visibility timeout (its countdown add went back to the queue, or ran if due).
    assert sums.result(running) == {"status": "SUCCESS", "result": 42}
    assert unacked(fault_app) == 0

    new = spawn(delay=0)
    expected = {running: 42, held: 3, queued: 7}
    for task_id, total in expected.items():
        assert sums.finished(task_id, wait=20) == {"status": "SUCCESS", "result": total}
    lines = {task_id: f"Task sumflow.add[{task_id}] succeeded" for task_id in expected}
    logs = logged(lambda: old.log() + new.log(), *lines.values())
    ran = {task_id: logs.count(line) for task_id, line in lines.items()}
    assert ran == dict.fromkeys(expected, 1)
    eventually(lambda: unacked(fault_app) == 0, what="every message to be acknowledged")


def test_a_worker_stopped_cold_requeues_its_running_add_at_once(
    fault_app: Flask, sums: Sums, spawn: Callable[..., Service]
) -> None:
    """SIGQUIT (or a second Ctrl-C) is Celery's cold shutdown: running adds are stopped, not
    waited for. Their messages go back to the queue as the worker stops, and the next worker
    runs them; they are not left for the visibility timeout."""
    old = spawn(delay=2, concurrency=1)
    task_id = sums.submit(20, 22)
    eventually(lambda: sums.result(task_id)["status"] == "STARTED", what="the add to start")

    assert old.process is not None
    old.process.send_signal(signal.SIGQUIT)
    old.process.wait(timeout=20)
    # No other worker runs: the add is back in its queue, not held for the visibility timeout.
    assert unacked(fault_app) == 0
    assert fault_app.extensions["sumflow"].redis.llen("default") == 1

    new = spawn(delay=0)
    assert sums.finished(task_id, wait=20) == {"status": "SUCCESS", "result": 42}
    line = f"Task sumflow.add[{task_id}] succeeded"
    assert logged(lambda: old.log() + new.log(), line).count(line) == 1


def test_a_task_that_kills_its_worker_every_time_fails_after_max_deliveries(
    fault_app: Flask, sums: Sums, spawn: Callable[..., Service]
) -> None:
    worker = spawn(delay=0, concurrency=1, MAX_DELIVERIES=3)
    redis = fault_app.extensions["sumflow"].redis
    task_id = fault_app.extensions["celery"].send_task(KILL_OWN_PROCESS, queue="default").id
    mark_issued(redis, [task_id], "add", 60)

    # Three deliveries kill three pool processes; the fourth is failed instead of run.
    assert sums.finished(task_id, wait=30) == {
        "status": "FAILURE",
        "result": "DeliveriesExhausted: gave up after 3 deliveries, "
        "each ended by its worker being lost (MAX_DELIVERIES)",
    }
    assert worker.log().count("exited with 'signal 9 (SIGKILL)'") == 3
    assert int(redis.get(deliveries_key(task_id))) == 3  # redeliveries, the first not counted
    # Kept as long as the result, not for ever: one key per redelivered task would pile up.
    kept = fault_app.extensions["sumflow"].settings.result_expires_seconds
    assert 0 < redis.ttl(deliveries_key(task_id)) <= kept
    # The message is gone for good: acknowledged, not requeued.
    eventually(lambda: unacked(fault_app) == 0, what="the message to be acknowledged")
    assert redis.llen("default") == 0

    # The worker goes on serving, and a first delivery leaves no count behind.
    added = sums.submit(2, 3)
    assert sums.finished(added) == {"status": "SUCCESS", "result": 5}
    assert redis.exists(deliveries_key(added)) == 0


@contextmanager
def members_unsubscribed(celery: Celery, sent: AsyncResult) -> Iterator[None]:
    """Celery's in-process chord keeps its members subscribed for as long as the app lives,
    which outlasts this test's Redis: unsubscribe when the test ends, passed or failed, or
    collecting them later would block another test for 20 s of reconnects and fail it."""
    try:
        yield
    finally:
        for member in sent.parent.results:
            celery.backend.result_consumer.cancel_for(member.id)


def callback_end(celery: Celery, callback_id: str, timeout: float) -> dict[str, Any]:
    """The chord callback's meta once it has ended (SUCCESS or FAILURE), not while it runs."""
    return eventually(
        lambda: (
            (m := celery.backend.get_task_meta(callback_id))["status"] in states.READY_STATES and m
        ),
        timeout=timeout,
        what="the chord's callback to end",
    )


def test_a_chord_whose_member_keeps_killing_its_worker_fails(
    fault_app: Flask, spawn: Callable[..., Service]
) -> None:
    spawn(delay=0, concurrency=1, MAX_DELIVERIES=2)
    celery = fault_app.extensions["celery"]
    header = [celery.signature(KILL_OWN_PROCESS), celery.signature(ADD_TASK, (1, 2))]
    sent = chord(header, celery.signature(SUM_ALL_TASK)).apply_async(queue="default")

    with members_unsubscribed(celery, sent):
        # The member's give-up reaches the callback, which fails instead of waiting forever.
        meta = callback_end(celery, sent.id, timeout=30)
        assert meta["status"] == "FAILURE"
        assert "raised DeliveriesExhausted('gave up after 2 deliveries" in str(meta["result"])


def test_a_chord_member_killed_after_storing_its_sum_still_counts_towards_the_chord(
    fault_app: Flask, spawn: Callable[..., Service]
) -> None:
    """Celery acknowledges a member that stored SUCCESS before its process died, without
    running it again; the chord must hear of that member all the same."""
    worker = spawn(delay=0, concurrency=1)
    celery = fault_app.extensions["celery"]
    header = [celery.signature(STORE_THEN_DIE, (40,)), celery.signature(ADD_TASK, (1, 1))]
    sent = chord(header, celery.signature(SUM_ALL_TASK)).apply_async(queue="default")

    with members_unsubscribed(celery, sent):
        meta = callback_end(celery, sent.id, timeout=20)
        assert (meta["status"], meta["result"]) == ("SUCCESS", 42)
        assert "succeeded before the worker was lost" in worker.log()
        # Not run twice: the member's process died once, and its message was acknowledged.
        assert worker.log().count("exited with 'signal 9 (SIGKILL)'") == 1
        eventually(lambda: unacked(fault_app) == 0, what="every message to be acknowledged")


def test_a_chord_member_killed_as_it_sends_the_callback_still_gets_it_sent(
    fault_app: Flask, spawn: Callable[..., Service]
) -> None:
    """The member that completes a chord claims the callback's dispatch (Celery 5.7 keeps the
    claim a few seconds) and then publishes it. A pool process killed in between left a claim
    that lapsed with no one to publish, and the callback PENDING for ever: its member had
    stored SUCCESS, so it was acknowledged, not run again."""
    worker = spawn(delay=0, concurrency=1)
    celery = fault_app.extensions["celery"]
    header = [
        celery.signature(ADD_TASK, (1, 1)),
        celery.signature(ADD_THEN_DIE_SENDING_CALLBACK, (40, 0)),
    ]
    sent = chord(header, celery.signature(SUM_ALL_TASK)).apply_async(queue="default")

    with members_unsubscribed(celery, sent):
        meta = callback_end(celery, sent.id, timeout=30)
        assert (meta["status"], meta["result"]) == ("SUCCESS", 42)
        # The process died once, in the publish, and the callback ran once.
        assert worker.log().count("exited with 'signal 9 (SIGKILL)'") == 1
        line = f"sumflow.sum_all[{sent.id}] succeeded"
        assert logged(worker.log, line).count(line) == 1
        eventually(lambda: unacked(fault_app) == 0, what="every message to be acknowledged")


def test_a_worker_killed_mid_task_loses_nothing(
    fault_app: Flask, sums: Sums, spawn: Callable[..., Service]
) -> None:
    first = spawn(delay=1.5, concurrency=2)
    expected = {sums.submit(i, 1000): i + 1000 for i in range(8)}
    eventually(
        lambda: any(sums.result(t)["status"] == "STARTED" for t in expected),
        what="some adds to start",
    )

    # The whole worker dies at once, pool and all: nothing is acknowledged on the way out.
    first.kill()
    assert unacked(fault_app) > 0, "the killed worker held no messages: the test proves nothing"

    # A new worker takes the queue and, after the visibility timeout, the abandoned messages.
    spawn(delay=0.1, concurrency=2)
    for task_id, total in expected.items():
        assert sums.finished(task_id, wait=VISIBILITY_TIMEOUT + 15) == {
            "status": "SUCCESS",
            "result": total,
        }
    eventually(lambda: unacked(fault_app) == 0, what="every message to be acknowledged")


def test_workflows_under_way_when_their_worker_is_killed_end_right_each_step_run_once(
    fault_app: Flask, sums: Sums, spawn: Callable[..., Service]
) -> None:
    """A chain's middle step running, a chord with members done and members running, and an
    add waiting out its retry's backoff, when the whole worker dies: each comes back after
    the visibility timeout and ends with its sum, nothing run to its end twice."""
    client = fault_app.test_client()
    first = spawn(delay=1, concurrency=4)  # a process free for the retry as it waits
    chain = client.post("/chains", json={"numbers": [1, 2, 3, 4]}).json
    backoff = VISIBILITY_TIMEOUT / 2  # the most allowed: due long after the chain goes on
    policy = {"max_retries": 1, "backoff": backoff, "backoff_max": backoff, "jitter": False}
    retried = sums.submit(20, 22, fail_times=1, retry_policy=policy)
    pairs = [[n, 10 * n] for n in range(3)]
    chord = client.post("/chords", json={"pairs": pairs}).json
    eventually(
        lambda: (
            sums.result(chain["task_ids"][1])["status"] == "STARTED"
            and sums.result(retried)["status"] == "RETRY"
            # The first attempt's message is acknowledged only after RETRY is stored: killed
            # before that, the worker would leave it to come back and run again. Only the
            # retry's message (due after the backoff) is held.
            and held_attempts(fault_app, retried) == [1]
        ),
        timeout=20,
        what="the chain's second step to run while the add waits to retry",
    )

    first.kill()
    assert {retried, chain["task_ids"][1]} <= held(fault_app)  # the retry waits in the worker
    assert 0 < client.get(f"/groups/{chord['group_id']}").json["completed"] < len(pairs)

    second = spawn(delay=0.1, concurrency=3)
    wait = VISIBILITY_TIMEOUT + 15
    assert sums.finished(chain["task_id"], wait=wait) == {"status": "SUCCESS", "result": 10}
    assert [sums.result(t)["result"] for t in chain["task_ids"]] == [3, 6, 10]
    total = sum(a + b for a, b in pairs)
    assert sums.finished(chord["task_id"], wait=wait) == {"status": "SUCCESS", "result": total}
    group = client.get(f"/groups/{chord['group_id']}").json
    assert (group["status"], group["results"]) == ("SUCCESS", [a + b for a, b in pairs])
    assert sums.finished(retried, wait=wait) == {"status": "SUCCESS", "result": 42}

    ids = [retried, *chain["task_ids"], *chord["task_ids"], chord["task_id"]]
    logs = logged(lambda: first.log() + second.log(), *(f"[{t}] succeeded" for t in ids))
    assert {t: logs.count(f"[{t}] succeeded") for t in ids} == dict.fromkeys(ids, 1)
    assert logs.count(f"sumflow.add[{retried}] retry:") == 1  # the retry was not retried
    eventually(lambda: unacked(fault_app) == 0, what="every message to be acknowledged")


def test_queued_work_survives_a_redis_restart(
    aof_redis: RedisServer, fault_app: Flask, sums: Sums, spawn: Callable[..., Service]
) -> None:
    # No worker runs: the adds wait in the queue.
    expected = {sums.submit(i, i): 2 * i for i in range(5)}
    assert all(sums.result(t)["status"] == "PENDING" for t in expected)

    # Redis restarts; with AOF the queue and the issued ids come back from disk.
    aof_redis.stop()
    aof_redis.start()
    eventually(lambda: fault_app.test_client().get("/health").status_code == 200, what="health")

    # A worker started afterwards finds the work and completes all of it.
    spawn(delay=0)
    for task_id, total in expected.items():
        assert sums.finished(task_id, wait=20) == {"status": "SUCCESS", "result": total}
