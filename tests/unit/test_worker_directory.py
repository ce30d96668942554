"""The workers' answer behind /health, /queues and /metrics: only the first call waits for
the workers; a stale answer is served while one background thread asks them again."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from celery import Celery

from tests.support import eventually
from workflows.inspection import WorkerDirectory

#: Long enough for a call that would wait for the refresh to be told apart from one that does not.
NO_WAIT = 5.0


class SlowWorkers(WorkerDirectory):
    """A directory whose workers answer each inspect only when the test lets them."""

    def __init__(self, ttl: float) -> None:
        super().__init__(Celery(set_as_current=False), ttl=ttl)
        self.answers = [{"w1@host": ["default"]}, {"w2@host": ["priority"]}]
        self.asked = 0
        self.answer_now = threading.Event()

    def _fetch(self) -> dict[str, list[str]]:
        self.asked += 1
        if self.asked > 1:  # the first answer is given at once
            assert self.answer_now.wait(NO_WAIT), "the test never let the workers answer"
        return self.answers[min(self.asked, len(self.answers)) - 1]


def test_the_first_call_waits_for_the_workers_and_a_fresh_answer_is_shared() -> None:
    directory = SlowWorkers(ttl=60)
    first = directory.view()
    assert first.queues_by_worker == {"w1@host": ["default"]}
    assert directory.view() is first and directory.queues_by_worker() is first.queues_by_worker
    assert directory.asked == 1


def test_a_stale_answer_is_served_while_one_refresh_runs() -> None:
    directory = SlowWorkers(ttl=0)
    first = directory.view()

    # Stale at once (ttl 0): many callers, none waits, and the workers are asked once more.
    with ThreadPoolExecutor(8) as callers:
        views = list(callers.map(lambda _: directory.view(), range(32), timeout=NO_WAIT))
    assert all(view is first for view in views)
    assert directory.asked == 2

    directory.answer_now.set()
    refreshed = eventually(lambda: (view := directory.view()) is not first and view)
    assert refreshed.queues_by_worker == {"w2@host": ["priority"]}
    assert refreshed.as_of >= first.as_of
