"""A pool process's memory: what a task leaves behind is freed when the task ends.

A failed or retried task used to leave its exception, traceback and frames in a reference
cycle (workflows.tracebacks), freed only at the garbage collector's next full collection:
about 200 KB a failure, so a pool process grew by tens of MB between collections. These tests
stop automatic collection in a worker's only pool process, run the tasks, then ask the
collector what it would have had to free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery
from flask import Flask

from tests.conftest import Sums
from tests.memory_tasks import COUNT_GARBAGE, HOLD_GARBAGE, MEMORY_TASKS
from tests.support import AppBuilder, Service, eventually, wait_for_worker

pytestmark = pytest.mark.integration

#: A retry policy that retries once, at once.
RETRY_ONCE = {"max_retries": 1, "backoff": 0, "backoff_max": 0, "jitter": False}


@pytest.fixture
def memory_app(quiet_redis_url: str, build_app: AppBuilder) -> Flask:
    return build_app({"redis_url": quiet_redis_url, "add_delay_seconds": 0, "rate_limit": ""})


@pytest.fixture
def one_process_worker(
    memory_app: Flask, quiet_redis_url: str, start_worker: Callable[..., Service]
) -> Service:
    """A worker with one pool process, so every task of the test runs in the same one."""
    worker = start_worker(
        ("default",),
        url=quiet_redis_url,
        concurrency=1,
        include=(MEMORY_TASKS,),
        ADD_DELAY_SECONDS=0,
    )
    wait_for_worker(memory_app.extensions["celery"], worker.name)  # type: ignore[attr-defined]
    return worker


def run(celery: Celery, name: str) -> Any:
    """Send the test-only task ``name`` to the pool process; its result once it succeeded."""
    task_id = celery.send_task(name, queue="default").id

    def succeeded() -> Any:
        meta = celery.backend.get_task_meta(task_id)
        return meta if meta["status"] == "SUCCESS" else None

    return eventually(succeeded, timeout=30, what=name)["result"]


def test_failed_and_retried_adds_leave_nothing_for_the_garbage_collector(
    memory_app: Flask, one_process_worker: Service
) -> None:
    celery, sums = memory_app.extensions["celery"], Sums(memory_app.test_client())
    run(celery, HOLD_GARBAGE)

    # Adds that fail, once for good and once on the way to a retry that succeeds.
    failed = [sums.submit(1, 2, fail_times=1, retry_policy="none") for _ in range(3)]
    retried = [sums.submit(1, 2, fail_times=1, retry_policy=RETRY_ONCE) for _ in range(3)]
    for task_id in failed:
        assert sums.finished(task_id)["status"] == "FAILURE"
    for task_id in retried:
        assert sums.finished(task_id) == {"status": "SUCCESS", "result": 3}

    garbage = run(celery, COUNT_GARBAGE)
    # Their frames went with the tasks, and with them the copies of the tracebacks.
    assert garbage.get("frame", 0) == 0, garbage
    assert garbage.get("traceback", 0) == 0, garbage
    assert garbage.get("ExceptionInfo", 0) == 0, garbage
