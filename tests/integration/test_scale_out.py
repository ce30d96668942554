"""Several workers on one queue, as the README's "Scaling out" runs them: they share the work,
and a busy one leaves what it cannot start yet to a worker that can."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import Sums
from tests.support import Service, logged, wait_for_worker
from workflows import SumflowCelery

pytestmark = pytest.mark.integration

#: Simulated work per add on the slow worker: far longer than the fast one needs for the rest.
SLOW_ADD_SECONDS = 2


def test_a_busy_worker_leaves_queued_work_to_a_free_one(
    sums: Sums, celery_app: SumflowCelery, start_worker: Callable[..., Service]
) -> None:
    """``worker_prefetch_multiplier=1`` with late acknowledgement: a worker reserves no more
    messages than it has pool processes. With a multiplier of 4 the slow worker took a second
    add while it ran its first, and that add waited for it though the fast worker stood idle."""
    # Two machines share "priority", one pool process each: a slow one and a fast one.
    slow = start_worker(
        ("priority",), concurrency=1, wait=False, ADD_DELAY_SECONDS=SLOW_ADD_SECONDS
    )
    fast = start_worker(("priority",), concurrency=1, wait=False, ADD_DELAY_SECONDS=0)
    for worker in (slow, fast):
        wait_for_worker(celery_app, worker.name)  # type: ignore[attr-defined]

    # Four adds at once: whichever worker takes the first, the slow one runs one add and the
    # fast one the other three, each once and with its sum.
    expected = {sums.submit(n, 100, queue="priority"): n + 100 for n in range(4)}
    for task_id, total in expected.items():
        assert sums.finished(task_id) == {"status": "SUCCESS", "result": total}
    lines = [f"sumflow.add[{task_id}] succeeded" for task_id in expected]
    logs = logged(lambda: slow.log() + fast.log(), *lines)
    assert [logs.count(line) for line in lines] == [1, 1, 1, 1]
    assert sum(line in slow.log() for line in lines) == 1
    assert sum(line in fast.log() for line in lines) == 3
