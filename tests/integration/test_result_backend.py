"""The result backend keeps a finished task finished, whatever order late states arrive in,
and ends a broken chain's later steps.

Celery publishes a retry's message before it stores RETRY, so with no backoff the next attempt
can run and finish on another pool process first; the late RETRY used to replace its SUCCESS
(test_groups' chunk retries ended RETRY for ever, one run in a few). Stored here in that
order, on a real Redis, with the worker's own backend.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import states, uuid
from celery.app.task import Context
from celery.exceptions import Retry
from celery.result import GroupResult

from config import load_settings
from workflows import create_celery
from workflows.backend import ChainAborted, ResultBackend
from workflows.registry import REVOKED_KEY
from workflows.results import meta_key
from workflows.revocation import revoke

pytestmark = pytest.mark.integration

#: What a task of each state stores as its result.
RESULTS: dict[str, Any] = {
    states.STARTED: {"pid": 1},
    states.RETRY: Retry("again", exc=ValueError("boom"), when=0),
    states.SUCCESS: 2,
    states.FAILURE: ValueError("boom"),
    states.REVOKED: ValueError("revoked"),
}


@pytest.fixture
def backend(quiet_redis_url: str) -> Iterator[ResultBackend]:
    celery = create_celery(load_settings({}, redis_url=quiet_redis_url))
    assert isinstance(celery.backend, ResultBackend)
    yield celery.backend
    celery.close()


@pytest.fixture
def client(quiet_redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(quiet_redis_url)


def stored(client: redis.Redis, task_id: str) -> str:
    return json.loads(client.get(meta_key(task_id)))["status"]


def store(backend: ResultBackend, task_id: str, state: str) -> None:
    backend.store_result(task_id, RESULTS[state], state)


@pytest.mark.parametrize("done", [states.SUCCESS, states.FAILURE, states.REVOKED])
@pytest.mark.parametrize("late", [states.STARTED, states.RETRY])
def test_a_late_unfinished_state_leaves_a_finished_one(
    backend: ResultBackend, client: redis.Redis, done: str, late: str
) -> None:
    task_id = uuid()
    store(backend, task_id, done)
    store(backend, task_id, late)
    assert stored(client, task_id) == done


@pytest.mark.parametrize("final", [states.SUCCESS, states.REVOKED])
def test_success_and_revoked_stay_whatever_comes_after_and_nothing_is_announced(
    backend: ResultBackend, client: redis.Redis, final: str
) -> None:
    task_id = uuid()
    store(backend, task_id, final)
    kept = client.get(meta_key(task_id))
    with client.pubsub() as pubsub:
        pubsub.subscribe(meta_key(task_id))
        assert pubsub.get_message(timeout=1)["type"] == "subscribe"
        for state in RESULTS:
            store(backend, task_id, state)
        assert pubsub.get_message(timeout=0.5) is None  # refused states are not published
    assert client.get(meta_key(task_id)) == kept


def test_every_state_of_a_normal_run_is_stored_and_announced_in_turn(
    backend: ResultBackend, client: redis.Redis
) -> None:
    task_id = uuid()
    run = [states.STARTED, states.RETRY, states.STARTED, states.FAILURE, states.SUCCESS]
    with client.pubsub() as pubsub:
        pubsub.subscribe(meta_key(task_id))
        assert pubsub.get_message(timeout=1)["type"] == "subscribe"
        for state in run:
            store(backend, task_id, state)
            assert stored(client, task_id) == state
        heard = [json.loads(pubsub.get_message(timeout=1)["data"])["status"] for _ in run]
    assert heard == run  # a later run may still succeed after a failure, as in Celery
    assert 0 < client.ttl(meta_key(task_id)) <= backend.expires


def test_a_late_retry_leaves_the_next_attempt_running(
    backend: ResultBackend, client: redis.Redis
) -> None:
    # With no backoff the retry's message (attempt 2) is taken and STARTED before attempt 1
    # stores its RETRY. That late RETRY hid the running attempt: DELETE /tasks took it for a
    # task not running, stored REVOKED (no terminate needed), and the attempt ran on: a chain
    # went on to SUCCESS, a chord counted the sum, though the step read REVOKED.
    task_id = uuid()
    backend.store_result(
        task_id, RESULTS[states.STARTED], states.STARTED, request=Context(id=task_id, retries=1)
    )
    backend.mark_as_retry(task_id, ValueError("boom"), request=Context(id=task_id, retries=0))
    assert stored(client, task_id) == states.STARTED

    # Within one attempt every state still follows the one before.
    backend.mark_as_retry(task_id, ValueError("boom"), request=Context(id=task_id, retries=1))
    assert stored(client, task_id) == states.RETRY
    backend.store_result(
        task_id, RESULTS[states.STARTED], states.STARTED, request=Context(id=task_id, retries=2)
    )
    assert stored(client, task_id) == states.STARTED


def test_a_revoke_and_a_start_cannot_cross(backend: ResultBackend, client: redis.Redis) -> None:
    """A worker stores STARTED, then checks the revoked set (workflows.base_task). DELETE
    /tasks read the state, then recorded the revoke: a task that started in between was
    stored REVOKED and ran on, and a chain went on past a step that read REVOKED. The revoke
    now reads and records in one step, so one of the two sees the other."""
    celery = backend.app
    started = uuid()  # started just before the revoke: left to run, and not recorded
    store(backend, started, states.STARTED)
    assert revoke(celery, client, started, terminate=False) == states.STARTED
    assert stored(client, started) == states.STARTED
    assert client.zscore(REVOKED_KEY, started) is None

    waiting = uuid()  # not started: REVOKED at once, and the worker that takes it skips it
    assert revoke(celery, client, waiting, terminate=False) is None
    assert stored(client, waiting) == states.REVOKED
    assert client.zscore(REVOKED_KEY, waiting) is not None
    store(backend, waiting, states.STARTED)
    assert stored(client, waiting) == states.REVOKED

    stopped = uuid()  # running, with terminate: recorded; its worker stores REVOKED
    store(backend, stopped, states.STARTED)
    assert revoke(celery, client, stopped, terminate=True) is None
    assert stored(client, stopped) == states.STARTED
    assert client.zscore(REVOKED_KEY, stopped) is not None

    finished = uuid()
    store(backend, finished, states.SUCCESS)
    assert revoke(celery, client, finished, terminate=True) == states.SUCCESS
    assert client.zscore(REVOKED_KEY, finished) is None


def test_a_revoke_is_kept_as_long_as_results(backend: ResultBackend, client: redis.Redis) -> None:
    """A revoke's REVOKED state and its entry in the revoked set are kept RESULT_EXPIRES
    seconds, as a result is: stored for ever, every revoke would stay in Redis for good."""
    task_id = uuid()
    before = time.time()
    assert revoke(backend.app, client, task_id, terminate=False) is None
    after = time.time()

    assert stored(client, task_id) == states.REVOKED
    assert 0 < client.ttl(meta_key(task_id)) <= backend.expires
    assert 0 < client.ttl(REVOKED_KEY) <= backend.expires
    # The entry's score is when the revoke lapses: checked against it, a worker skips the task.
    lapses = client.zscore(REVOKED_KEY, task_id)
    assert before + backend.expires <= lapses <= after + backend.expires


def chain_request(task_id: str, *later: str, **fields: Any) -> Context:
    """The request of a chain step, as a worker has it: ``later`` are the steps still to run,
    which Celery lists last first."""
    chain = [{"task": "sumflow.add", "args": [1], "options": {"task_id": t}} for t in later]
    return Context(id=task_id, chain=chain[::-1], **fields)


def test_a_broken_chain_announces_its_own_id_last(
    backend: ResultBackend, client: redis.Redis
) -> None:
    # A client waiting on the chain's id (its last step) reads the other steps once it hears
    # the failure: by then each of them must already say it was not run.
    steps = [uuid() for _ in range(4)]
    with client.pubsub() as pubsub:
        pubsub.psubscribe(meta_key("*"))
        assert pubsub.get_message(timeout=1)["type"] == "psubscribe"
        backend.mark_as_failure(steps[0], ValueError("boom"), request=chain_request(*steps))
        heard = [pubsub.get_message(timeout=1) for _ in steps]
    assert [json.loads(m["data"])["task_id"] for m in heard] == steps
    assert [stored(client, step) for step in steps] == [states.FAILURE] * 4
    assert json.loads(client.get(meta_key(steps[-1])))["result"]["exc_type"] == "ChainAborted"


def test_a_broken_chain_still_calls_the_failed_steps_errback(backend: ResultBackend) -> None:
    failures: list[tuple[str, str]] = []

    @backend.app.task(name="tests.record_failure", shared=False)
    def record_failure(request: Context, exc: BaseException, traceback: Any) -> None:
        failures.append((request.id, str(exc)))

    first, last = uuid(), uuid()
    request = chain_request(first, last, errbacks=[record_failure.s()])
    backend.mark_as_failure(first, ValueError("boom"), request=request)
    assert failures == [(first, "boom")]
    assert isinstance(backend.get_result(last), ChainAborted)


def test_a_saved_group_is_announced_and_expires_with_the_results(
    backend: ResultBackend, client: redis.Redis
) -> None:
    # No member results: an AsyncResult unsubscribes when collected, after Redis may be gone.
    group = GroupResult(uuid(), [], app=backend.app)
    key = backend.get_key_for_group(group.id)
    with client.pubsub() as pubsub:
        pubsub.subscribe(key)
        assert pubsub.get_message(timeout=1)["type"] == "subscribe"
        group.save(backend=backend)
        assert pubsub.get_message(timeout=1)["data"] == client.get(key)
    assert backend.restore_group(group.id).id == group.id
    assert 0 < client.ttl(key) <= backend.expires
