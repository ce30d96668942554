"""The workers' answer behind /health, /queues and /metrics: only a call with no fresh answer
to give waits for the workers; a background thread keeps the answer fresh while anyone asks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from celery import Celery
from kombu.exceptions import OperationalError

from tests.support import eventually
from workflows.inspection import WorkerDirectory

#: Long enough for a call that would wait for the refresh to be told apart from one that does not.
NO_WAIT = 5.0


class SlowWorkers(WorkerDirectory):
    """A directory whose workers answer the first inspect at once, later ones when let. A
    worker missing from an answer counts as gone at once: these tests are about when the
    directory asks, not about workers reconnecting."""

    def __init__(self, ttl: float, keep_fresh_for: float = 60.0) -> None:
        super().__init__(
            Celery(set_as_current=False), ttl=ttl, keep_fresh_for=keep_fresh_for, reconnect_grace=0
        )
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


#: What a failed inspect raises while Redis is down (kombu's error, as Celery's inspect gives it).
OUTAGE = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


class ScriptedWorkers(WorkerDirectory):
    """A directory whose inspects give what ``script`` holds, one step each, the last one
    again and again: the workers' replies, or the error of an inspect Redis did not answer."""

    def __init__(self, *script: set[str] | Exception, **timings: float) -> None:
        super().__init__(Celery(set_as_current=False), **timings)
        self.script = script
        self.asked = 0

    def _inspect_once_more_if_stale(self) -> dict[str, Any]:
        step = self.script[min(self.asked, len(self.script) - 1)]
        self.asked += 1
        if isinstance(step, Exception):
            raise step
        return {worker: [{"name": "default"}] for worker in step}


@pytest.fixture
def directories() -> Iterator[list[WorkerDirectory]]:
    """Directories a test makes, their threads stopped when it ends."""
    made: list[WorkerDirectory] = []
    yield made
    for directory in made:
        directory.close()


def test_an_inspect_redis_did_not_answer_leaves_the_last_answer(
    directories: list[WorkerDirectory],
) -> None:
    directory = ScriptedWorkers({"w1@host"}, OUTAGE, ttl=0.01)
    directories.append(directory)
    first = directory.view()
    eventually(lambda: directory.asked > 3, what="inspects during the outage")
    assert directory.view() is first  # not "no worker answered"


def test_without_an_answer_an_outage_is_an_outage_and_is_tried_again_soon(
    directories: list[WorkerDirectory],
) -> None:
    # ttl is a minute: only a prompt second try gets the workers' answer within the test.
    directory = ScriptedWorkers(OUTAGE, {"w1@host"}, ttl=60, retry_after=0.01)
    directories.append(directory)
    with pytest.raises(OperationalError):
        directory.view()
    answered = eventually(lambda: directory.view().queues_by_worker, what="the second try")
    assert answered == {"w1@host": ["default"]}


def test_after_an_outage_workers_get_time_to_reconnect_before_they_count_as_gone(
    directories: list[WorkerDirectory],
) -> None:
    # w2 reconnects later than w1: the answers without it are not taken.
    directory = ScriptedWorkers(
        {"w1@host", "w2@host"},
        OUTAGE,
        *[{"w1@host"}] * 30,
        {"w1@host", "w2@host"},
        ttl=0.01,
        retry_after=0.01,
        reconnect_grace=60,
    )
    directories.append(directory)
    before = directory.view()
    seen = []

    def both_again() -> bool:
        view = directory.view()
        seen.append(tuple(sorted(view.queues_by_worker)))
        return view is not before and directory.asked > 32

    eventually(both_again, what="both workers to answer again")
    assert set(seen) == {("w1@host", "w2@host")}


def test_a_worker_missing_from_one_answer_is_asked_again_before_it_counts_as_gone(
    directories: list[WorkerDirectory],
) -> None:
    # No inspect failed: Redis restarted between two of them, and w1 was still reconnecting.
    directory = ScriptedWorkers(
        {"w1@host"},
        *[set()] * 30,
        {"w1@host"},
        ttl=0.01,
        retry_after=0.01,
        reconnect_grace=60,
    )
    directories.append(directory)
    before = directory.view()
    seen = []

    def back() -> bool:
        view = directory.view()
        seen.append(tuple(view.queues_by_worker))
        return view is not before and directory.asked > 31

    eventually(back, what="w1 to answer again")
    assert set(seen) == {("w1@host",)}


def test_a_worker_still_missing_once_the_others_had_time_to_reconnect_is_gone(
    directories: list[WorkerDirectory],
) -> None:
    directory = ScriptedWorkers(
        {"w1@host", "w2@host"},
        OUTAGE,
        {"w1@host"},
        ttl=0.01,
        retry_after=0.01,
        reconnect_grace=0.2,
    )
    directories.append(directory)
    directory.view()
    gone = eventually(
        lambda: list(directory.view().queues_by_worker) == ["w1@host"], what="w2 to be gone"
    )
    assert gone


def test_warm_asks_the_workers_at_once_without_waiting_for_them(
    directories: list[WorkerDirectory],
) -> None:
    directory = SlowWorkers(ttl=60)
    directories.append(directory)
    directory.asked = 1  # so that the first inspect, too, waits until let
    directory.warm()  # returns while that inspect is under way
    assert directory.refreshing
    eventually(lambda: directory.asked == 2, what="the warm-up inspect")
    directory.answer_now.set()
    assert directory.view().queues_by_worker == {"w2@host": ["priority"]}
    assert directory.asked == 2  # the call took that inspect's answer: it sent none
