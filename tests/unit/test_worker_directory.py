"""The workers' answer behind /health, /queues and /metrics: only a call with no fresh answer
to give waits for the workers; a background thread keeps the answer fresh while anyone asks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from celery import Celery

from tests.support import eventually
from workflows.inspection import WorkerDirectory

#: Long enough for a call that would wait for the refresh to be told apart from one that does not.
NO_WAIT = 5.0


class SlowWorkers(WorkerDirectory):
    """A directory whose workers answer the first inspect at once, later ones when let."""

    def __init__(self, ttl: float, keep_fresh_for: float = 60.0) -> None:
        super().__init__(Celery(set_as_current=False), ttl=ttl, keep_fresh_for=keep_fresh_for)
        self.answers = [{"w1@host": ["default"]}, {"w2@host": ["priority"]}]
        self.asked = 0
        self.answer_now = threading.Event()

    def _fetch(self) -> dict[str, list[str]]:
        self.asked += 1
        if self.asked > 1:
            assert self.answer_now.wait(NO_WAIT), "the test never let the workers answer"
        return self.answers[min(self.asked, len(self.answers)) - 1]


def test_the_first_call_waits_for_the_workers_and_a_fresh_answer_is_shared() -> None:
    directory = SlowWorkers(ttl=60)
    first = directory.view()
    assert first.queues_by_worker == {"w1@host": ["default"]}
    assert directory.view() is first and directory.queues_by_worker() is first.queues_by_worker
    assert directory.asked == 1
    # The refresh thread asks again once the answer is 60 s old: let it be answered then, or
    # its failed wait is reported against whatever test this process runs at that moment.
    directory.answer_now.set()


def test_the_answer_is_refreshed_in_the_background_and_no_call_waits_for_it() -> None:
    directory = SlowWorkers(ttl=0.01, keep_fresh_for=0.5)
    first = directory.view()

    # Stale at once: the thread asks again; callers meanwhile get the last answer.
    eventually(lambda: directory.asked == 2, what="the background refresh")
    with ThreadPoolExecutor(8) as callers:
        views = list(callers.map(lambda _: directory.view(), range(32), timeout=NO_WAIT))
    assert all(view is first for view in views)
    assert directory.asked == 2

    directory.answer_now.set()
    refreshed = eventually(lambda: (view := directory.view()) is not first and view)
    assert refreshed.queues_by_worker == {"w2@host": ["priority"]}
    assert refreshed.as_of >= first.as_of


def test_no_one_asking_stops_the_refreshes_and_the_next_call_asks_the_workers() -> None:
    directory = SlowWorkers(ttl=0.01, keep_fresh_for=0.2)
    directory.answer_now.set()
    directory.view()
    eventually(lambda: directory.asked > 2, what="refreshes while asked")

    eventually(lambda: not directory.refreshing, what="the refreshes to stop")
    asked = directory.asked
    answered = directory.view()  # waits for the workers: its answer is new
    assert directory.asked == asked + 1
    assert answered.queues_by_worker == {"w2@host": ["priority"]}
    assert directory.refreshing
